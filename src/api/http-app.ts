import type { RequestListener } from 'node:http';
import express, { type RequestHandler, type Router } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { PetrelError } from '../domain/errors.js';
import { consoleRouter } from './console-page.js';
import { docsRouter } from './docs-page.js';
import { errorHandler } from './error-handler.js';
import { withSendLane } from './send-lane.js';
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
     * POST endpoints (exact path → the handler its router also has) that a plain JSON
     * request reaches without Express (send-lane.ts): the same body limit and
     * authentication run, then the handler. Anything else is routed.
     */
    sendLane?: Record<string, RequestHandler>;
  };
  /** Served at /openapi.json with a docs page at /docs (no authentication). */
  openApi?: unknown;
  /** The operator's admin API (apps, credentials); absent when no admin token is configured. */
  admin?: { auth: RequestHandler; router: Router };
}

/**
 * The HTTP surface: the listener a server is created with. Operational endpoints here; the
 * app-server API (messages, apps, campaigns) mounts onto the same app, its sending
 * endpoints in front of it (send-lane.ts).
 */
export function createHttpApp(deps: HttpAppDeps): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  // No ETags: nothing here is cached by clients, and hashing every JSON body costs CPU per request.
  app.set('etag', false);
  const parserOf = bodyParsers(deps.api);
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
  const onError = errorHandler(deps.log);
  app.use(onError);
  const api = deps.api;
  if (!api?.sendLane) return app;
  return withSendLane(app, Object.fromEntries(Object.entries(api.sendLane).map(([path, handler]) =>
    [path, { maxBodyBytes: bodyLimitOf(api, path), chain: [...api.auth, handler] }])), onError, deps.log);
}

/** A path's body limit, the same for Express's parser and the send lane: its own from `bodyLimits`, else `maxBodyBytes`. */
function bodyLimitOf(api: HttpAppDeps['api'], path: string): number {
  return api?.bodyLimits?.[path] ?? api?.maxBodyBytes ?? 16 * 1024;
}

/** The JSON body parser of a path, at its limit (bodyLimitOf); one instance per limit. */
function bodyParsers(api: HttpAppDeps['api']): (path: string) => RequestHandler {
  const byLimit = new Map<number, RequestHandler>();
  return (path) => {
    const limit = bodyLimitOf(api, path);
    let parser = byLimit.get(limit);
    if (!parser) byLimit.set(limit, (parser = express.json({ limit, strict: true })));
    return parser;
  };
}
