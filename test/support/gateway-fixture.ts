import { loadConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/schema.js';
import { startGateway } from '../../src/cmd/tiers.js';
import { createRuntime, type Runtime } from '../../src/cmd/runtime.js';
import type { GatewayServer } from '../../src/gateway/gateway-server.js';
import type { SessionHooks } from '../../src/gateway/session-hooks.js';
import { AppStore } from '../../src/store/app-store.js';
import { randomBytes } from 'node:crypto';
import { cleanupPrefix, testRedisUrl, uniquePrefix } from './redis.js';
import { createLogger } from '../../src/observability/logger.js';

export interface TestGateway {
  rt: Runtime;
  gateway: GatewayServer;
  port: number;
  apps: AppStore;
  app: { appId: string; clientKey: string; serverSecret: string };
  /** Value of a counter/gauge sample, by metric name and labels. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/** A real gateway on an ephemeral port, over the test Redis with its own key prefix. */
export async function startTestGateway(
  options: {
    gateway?: Partial<Omit<GatewayConfig, 'heartbeat' | 'limits'>> & { heartbeat?: Partial<GatewayConfig['heartbeat']>; limits?: Partial<GatewayConfig['limits']> };
    hooks?: SessionHooks;
    redisUrl?: string;
    helloWindowMs?: number;
    /** Key prefix to share with other gateways (one cluster); its keys are then the caller's to clean. */
    keyPrefix?: string;
    registryTtlMs?: number;
    /** Gateways of one cluster share it (device secrets are derived from it). */
    deviceKey?: Buffer;
  } = {},
): Promise<TestGateway> {
  const prefix = options.keyPrefix ?? uniquePrefix('gw');
  const config = loadConfig({
    env: {},
    overrides: {
      redis: { url: options.redisUrl ?? testRedisUrl(), keyPrefix: prefix },
      log: { level: 'silent' },
      auth: { helloWindowMs: options.helloWindowMs ?? 120_000 },
      // No per-address registration limit unless a test sets one (tests register from loopback).
      gateway: { host: '127.0.0.1', port: 0, appCacheMs: 200, sweepIntervalMs: 50, drainSpreadMs: 1000, drainTimeoutMs: 1000, ...options.gateway, limits: { registrationsPerMinute: 0, ...options.gateway?.limits } },
      ...(options.registryTtlMs === undefined ? {} : { registry: { ttlMs: options.registryTtlMs } }),
    },
  });
  const rt = createRuntime(config, 'test', { defaultMetrics: false, log: createLogger({ level: 'silent' }) });
  const gateway = await startGateway(rt, options.deviceKey ?? randomBytes(32), options.hooks);
  const apps = new AppStore(rt.redis, rt.keys);
  const created = await apps.create('test app');
  return {
    rt,
    gateway,
    port: gateway.port,
    apps,
    app: { appId: created.app.id, clientKey: created.app.clientKey, serverSecret: created.serverSecret },
    async metric(name, labels = {}) {
      const metric = rt.metrics.registry.getSingleMetric(name);
      if (!metric) throw new Error(`no metric ${name}`);
      const { values } = await metric.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      await gateway.close();
      if (rt.redis.status === 'ready' && options.keyPrefix === undefined) await cleanupPrefix(rt.redis, prefix);
      await rt.close();
    },
  };
}
