import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHttpApp } from '../api/http-app.js';
import { SessionReports } from '../dispatch/session-reports.js';
import { SubscriptionStore } from '../dispatch/subscriptions.js';
import { AppCache } from '../gateway/app-cache.js';
import { DeviceAuthenticator } from '../gateway/device-auth.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import type { SessionHooks } from '../gateway/session-hooks.js';
import { WireCodec } from '../protocol/index.js';
import { AppStore } from '../store/app-store.js';
import { DeviceStore } from '../store/device-store.js';
import type { Runtime } from './runtime.js';

/** Builds and starts a gateway on the runtime; drained on runtime close. */
export async function startGateway(rt: Runtime, deviceKey: Buffer, hooks?: SessionHooks): Promise<GatewayServer> {
  const { config } = rt;
  const auth = new DeviceAuthenticator(
    new AppCache(new AppStore(rt.redis, rt.keys), config.gateway.appCacheMs),
    new DeviceStore(rt.redis, rt.keys, config.gateway.helloBatchMs),
    deviceKey,
    config.auth.helloWindowMs,
  );
  const gateway = new GatewayServer({
    config: config.gateway,
    codec: new WireCodec(config.codec),
    metrics: rt.metrics,
    log: rt.log,
    auth,
    hooks: hooks ?? new SessionReports(new SubscriptionStore(rt.redis, rt.keys, config.limits.topicsPerDevice), rt.log),
  });
  await gateway.listen();
  rt.onClose(() => gateway.drain());
  return gateway;
}

/**
 * Starts an HTTP server: the app-server API on `config.http`, or only the ops endpoints on
 * `config.ops` for tiers without the API (a gateway's /metrics).
 */
export async function startHttp(rt: Runtime, which: 'http' | 'ops' = 'http'): Promise<number> {
  const app = createHttpApp({
    registry: rt.metrics.registry,
    ready: async () => (await rt.redis.ping()) === 'PONG',
  });
  const { host, port: wanted } = rt.config[which];
  const server = app.listen(wanted, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  rt.log.info({ host, port, which }, 'http listening');
  rt.onClose(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return port;
}
