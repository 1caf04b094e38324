import express, { type Express, type RequestHandler, type Router } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { PetrelError } from '../domain/errors.js';
import { consoleRouter } from './console-page.js';
import { docsRouter } from './docs-page.js';
import { errorHandler } from './error-handler.js';
import { undocumentedRoutes } from './openapi.js';

/** Unknown paths answer in the API's error format, not with Express's HTML page. */
const routeNotFound: RequestHandler = (req) => {
  throw new PetrelError('route_not_found', `no endpoint ${req.method} ${req.path}`);
};

export interface HttpAppDeps {
  /** What `/metrics` serves. */
  registry: Pick<Registry, 'contentType' | 'metrics'>;
  log: Logger;
  /** Resolves when the tiers behind the API can take work (Redis reachable). */
  ready(): Promise<boolean>;
  /** The app-server API: authentication, then its routers. Absent on ops-only listeners. */
  api?: {
    auth: RequestHandler[];
    routers: Router[];
    maxBodyBytes: number;
    /** Paths whose bodies may be larger than maxBodyBytes (batch sends). */
    bodyLimits?: Record<string, number>;
    /**
     * POST endpoints (exact path → the handler its router also has) taken before routing:
     * the same body parser and authentication run, then the handler, but the request does
     * not walk the stack of ops routes, the docs router and every router's layers. For the
     * send path: routing and Express fell from ~17 % to ~12 % of the API's busy time, about
     * 5 % of its CPU per single send (bench/accept-rate.ts, README "Measured"). Anything
     * else (a query string, another method) is routed.
     */
    fastPosts?: Record<string, RequestHandler>;
  };
  /** Served at /openapi.json with a docs page at /docs (no authentication). */
  openApi?: unknown;
  /** The operator's admin API (apps, credentials); absent when no admin token is configured. */
  admin?: { auth: RequestHandler; router: Router };
}

/**
 * The HTTP surface. Operational endpoints here; the app-server API (messages, apps,
 * campaigns) mounts onto the same app.
 */
export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETags: nothing here is cached by clients, and hashing every JSON body costs CPU per request.
  app.set('etag', false);
  const parserOf = bodyParsers(deps.api);
  if (deps.api?.fastPosts) {
    const { auth } = deps.api;
    app.use(fastPostLane(Object.entries(deps.api.fastPosts).map(([path, handler]) => [path, [parserOf(path), ...auth, handler]])));
  }
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
  if (deps.openApi) {
    const doc = deps.openApi as Parameters<typeof undocumentedRoutes>[1];
    const missing = [
      ...(deps.api?.routers ?? []).flatMap((r) => undocumentedRoutes(r, doc)),
      ...(deps.admin ? undocumentedRoutes(deps.admin.router, doc, '/v1/admin') : []),
    ];
    if (missing.length > 0) throw new Error(`routes missing from the OpenAPI document (src/api/api-operations.ts): ${missing.join(', ')}`);
    app.use(docsRouter(deps.openApi));
  }
  // Admin first: its paths are under /v1 too, but authenticate with the admin token.
  if (deps.admin) {
    app.use('/v1/admin', express.json({ limit: 16 * 1024, strict: true }), deps.admin.auth, deps.admin.router, routeNotFound);
  }
  if (deps.api) {
    // The campaign console: a static page over the API below (no credentials of its own).
    app.use(consoleRouter());
    // A body parsed by the first matching parser is not parsed again.
    for (const path of Object.keys(deps.api.bodyLimits ?? {})) app.use(path, parserOf(path));
    app.use('/v1', parserOf('/v1'), ...deps.api.auth);
    for (const router of deps.api.routers) app.use(router);
  }
  app.use(routeNotFound);
  app.use(errorHandler(deps.log));
  return app;
}

/** The JSON body parser of a path: its own limit from `bodyLimits`, else `maxBodyBytes`; one instance each. */
function bodyParsers(api: HttpAppDeps['api']): (path: string) => RequestHandler {
  const limits = api?.bodyLimits ?? {};
  const parsers = new Map(Object.entries(limits).map(([path, limit]) => [path, express.json({ limit, strict: true })]));
  const fallback = express.json({ limit: api?.maxBodyBytes ?? 16 * 1024, strict: true });
  return (path) => parsers.get(path) ?? fallback;
}

/**
 * Runs the handler chain of an exact POST path, as Express would (a handler's rejected
 * promise or next(err) goes to the app's error handler through `next`); any other
 * request continues down the stack.
 */
function fastPostLane(routes: Array<[string, RequestHandler[]]>): RequestHandler {
  const chains = new Map(routes);
  return (req, res, next) => {
    const chain = req.method === 'POST' ? chains.get(req.url) : undefined;
    if (!chain) return next();
    let i = 0;
    const step = (err?: unknown): void => {
      // 'route' / 'router' (skip the rest of a route or router): nothing is left to skip here.
      if (err === 'route' || err === 'router') return next();
      if (err !== undefined && err !== null) return next(err);
      const handler = chain[i++];
      if (!handler) return next();
      try {
        const result: unknown = handler(req, res, step);
        if (result instanceof Promise) result.then(undefined, (e: unknown) => step(e ?? new Error('Rejected promise')));
      } catch (e) {
        step(e);
      }
    };
    step();
  };
}
