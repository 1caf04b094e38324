import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load.js';
import { createRuntime, type Runtime } from '../../src/cmd/runtime.js';
import { startDispatcher, startGateway, startHttp } from '../../src/cmd/tiers.js';
import type { GatewayServer } from '../../src/gateway/gateway-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { AppStore } from '../../src/store/app-store.js';
import { cleanupPrefix, testRedisUrl, uniquePrefix } from './redis.js';

export interface TestApp {
  appId: string;
  clientKey: string;
  serverSecret: string;
}

/** The JSON fields API answers carry (each answer has those of its kind). */
export interface ApiBody {
  id: string;
  accepted: number;
  error: { code: string; message: string; details: { devices: string[]; fields: Array<{ path: string; message: string }> } };
}

/** Bearer token of the stack's admin API (/v1/admin). */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestStack {
  rt: Runtime;
  prefix: string;
  http: string;
  /** The dispatcher's Thrift DispatchService port (internal send). */
  dispatcherPort: number;
  gateways: GatewayServer[];
  app: TestApp;
  apps: AppStore;
  /** fetch against the API with the app's bearer secret (or another one). */
  api(path: string, init?: { method?: string; body?: unknown; raw?: string; secret?: string; headers?: Record<string, string> }): Promise<{ status: number; body: ApiBody; headers: Headers }>;
  newApp(): Promise<TestApp>;
  /** Messages stored under this stack's prefix: hashes and intake entries (store/intake-entry.ts). */
  storedMessages(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Every tier in this process (API, dispatcher, `gateways` gateways), talking Thrift to
 * each other over loopback exactly as separate processes do (unless overrides say
 * `rpc: { inProcess: true }`), on the test Redis under a
 * key prefix of its own.
 */
export async function startTestStack(options: { gateways?: number; overrides?: Record<string, unknown> } = {}): Promise<TestStack> {
  const prefix = uniquePrefix('stack');
  const overrides = options.overrides ?? {};
  const config = loadConfig({
    env: {},
    overrides: {
      ...overrides,
      redis: { url: testRedisUrl(), keyPrefix: prefix },
      log: { level: 'silent' },
      http: { host: '127.0.0.1', port: 0 },
      // Tests register thousands of devices from loopback: no per-address registration limit
      // (test/gateway/abuse-limits.test.ts tests the limits).
      gateway: { host: '127.0.0.1', port: 0, appCacheMs: 200, sweepIntervalMs: 50, drainSpreadMs: 100, drainTimeoutMs: 500, reportIntervalMs: 2, limits: { registrationsPerMinute: 0 }, ...(overrides['gateway'] as object | undefined) },
      registry: { ttlMs: 3000 },
      // On the wire between tiers, as separate processes talk (the in-process calls of
      // `petrel all` are tested on their own: test/rpc/local-rpc.test.ts).
      rpc: { inProcess: false, ...(overrides['rpc'] as object | undefined) },
      dispatch: { stalledIntervalMs: 2000, ...(overrides['dispatch'] as object | undefined) },
    },
  });
  const rt = createRuntime(config, 'test', { defaultMetrics: false, log: createLogger({ level: 'silent' }) });
  const httpPort = await startHttp(rt, 'http', { adminToken: TEST_ADMIN_TOKEN });
  const dispatcher = await startDispatcher(rt);
  const deviceKey = randomBytes(32);
  const gateways: GatewayServer[] = [];
  for (let i = 0; i < (options.gateways ?? 1); i++) gateways.push(await startGateway(rt, deviceKey));
  const apps = new AppStore(rt.redis, rt.keys);
  const newApp = async (): Promise<TestApp> => {
    const created = await apps.create('test app');
    return { appId: created.app.id, clientKey: created.app.clientKey, serverSecret: created.serverSecret };
  };
  const app = await newApp();
  const http = `http://127.0.0.1:${httpPort}`;
  return {
    rt, prefix, http, dispatcherPort: dispatcher.rpcPort, gateways, app, apps, newApp,
    async api(path, init = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${init.secret ?? app.serverSecret}`, ...init.headers };
      let body: string | undefined = init.raw;
      if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers['content-type'] = 'application/json';
      } else if (body !== undefined) {
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(http + path, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as ApiBody, headers: res.headers };
    },
    storedMessages() {
      return countStoredMessages(rt.redis, prefix);
    },
    async close() {
      await rt.close();
      const { createTestRedis } = await import('./redis.js');
      const redis = createTestRedis();
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    },
  };
}

/**
 * Message hashes plus intake entries, counted in one script: a fan-out turning an entry
 * into a hash between two separate reads would be counted twice or not at all.
 */
export async function countStoredMessages(redis: Runtime['redis'], prefix: string): Promise<number> {
  return Number(await redis.eval(`
local n = #redis.call('KEYS', ARGV[1] .. 'msg:{*')
for _, k in ipairs(redis.call('KEYS', ARGV[1] .. 'intake:{*')) do n = n + redis.call('HLEN', k) end
return n`, 0, prefix));
}
