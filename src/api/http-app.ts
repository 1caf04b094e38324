import express, { type Express } from 'express';
import type { Registry } from 'prom-client';

export interface HttpAppDeps {
  registry: Registry;
  /** Resolves when the tiers behind the API can take work (Redis reachable). */
  ready(): Promise<boolean>;
}

/**
 * The HTTP surface. Operational endpoints here; the app-server API (messages, apps,
 * campaigns) mounts onto the same app.
 */
export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const ok = await deps.ready().catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  return app;
}
