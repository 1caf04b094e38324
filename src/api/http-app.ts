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
  // Only when an operator started the process with --expose-gc (benchmarks measuring
  // live memory per connection): collect garbage now so RSS reflects what is kept.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') {
    app.post('/debug/gc', (_req, res) => {
      gc();
      gc();
      res.json({ heapUsed: process.memoryUsage().heapUsed });
    });
  }
  return app;
}
