import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { PetrelError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';

/** One sending endpoint taken before Express: its body limit and its handlers (authentication first). */
export interface SendLaneRoute {
  maxBodyBytes: number;
  chain: RequestHandler[];
}

/** The JSON media type without parameters, or with a UTF-8 charset: what an app server sends. */
const PLAIN_JSON = /^application\/json[ \t]*(?:;[ \t]*charset=(?:utf-8|"utf-8")[ \t]*)?$/i;

/**
 * The sending endpoints served beside Express rather than through it. A plain request (exact
 * path, a JSON body of a stated length within the limit, no content encoding) has its body
 * read and parsed here, then runs its handlers with Express's request and response methods
 * but without Express's application and router: at 2,000 single sends/s, Express's routing
 * and body-parser/raw-body had been about a fifth of the API's busy time
 * (docs/performance.md #4).
 *
 * Everything else goes to Express unchanged, which answers as before: a body without a
 * length (chunked), compressed, in another charset or media type, over the limit (413),
 * empty, or a query string. The answers of this lane are the same as Express's for the same
 * body, and test/api/send-lane.test.ts holds the two side by side.
 */
export function withSendLane(app: Express, routes: Record<string, SendLaneRoute>, onError: ErrorRequestHandler, log: Logger): RequestListener {
  const table = new Map(Object.entries(routes));
  return (req, res) => {
    const route = req.method === 'POST' ? table.get(req.url ?? '') : undefined;
    const length = route ? plainBodyLength(req, route.maxBodyBytes) : 0;
    if (!route || length === 0) {
      app(req, res);
      return;
    }
    // What Express's app.handle does before routing: its request and response methods
    // (res.status, res.json, req.get…) for the handlers, and res.locals for the app.
    const request = Object.setPrototypeOf(req, app.request) as Request;
    const response = Object.setPrototypeOf(res, app.response) as Response;
    request.res = response;
    response.req = request;
    request.originalUrl = req.url ?? '';
    request.baseUrl = '';
    request.params = {};
    response.locals = Object.create(null) as Response['locals'];
    const fail = (err: unknown): void => {
      try {
        onError(err, request, response, () => response.destroy());
      } catch (bug) {
        // The error handler itself failed: a bare 500 if nothing was written yet, as
        // Express's final handler would answer.
        log.error({ err: bug, cause: err }, 'error handler failed');
        if (response.headersSent) response.destroy();
        else response.writeHead(500, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: { code: 'internal', message: new PetrelError('internal').message } }));
      }
    };
    readBody(req, length, (body) => {
      let parsed: unknown;
      try {
        parsed = parseJson(body);
      } catch (err) {
        fail(err);
        return;
      }
      request.body = parsed;
      // The send handlers answer every request; one passed on would be a bug, and routing it
      // through Express would run authentication and the rate limit a second time.
      run(route.chain, request, response, (err) => fail(err ?? new Error(`the handler chain passed POST ${req.url} on`)), (err) => {
        log.warn({ err }, 'error after the handler chain had ended');
      });
    });
  };
}

/** The stated body length if this lane can take the request, else 0 (Express takes it). */
function plainBodyLength(req: IncomingMessage, max: number): number {
  const { headers } = req;
  if (headers['transfer-encoding'] !== undefined) return 0;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return 0;
  const type = headers['content-type'];
  if (type === undefined || !PLAIN_JSON.test(type)) return 0;
  // Node's parser has already refused a Content-Length that is not a number.
  const length = Number(headers['content-length']);
  return length > 0 && length <= max ? length : 0;
}

/**
 * Collects a body whose length Node's HTTP parser enforces. A request that ends early
 * (the client went away) is dropped: there is no one to answer.
 */
function readBody(req: IncomingMessage, length: number, done: (body: Buffer) => void): void {
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  req.on('data', (chunk: Buffer) => {
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  });
  req.on('end', () => {
    if (!req.complete) return;
    done(chunks ? Buffer.concat(chunks, length) : first ?? Buffer.alloc(0));
  });
  // Node emits 'error' for an aborted request only when someone listens; there is no one to
  // answer, and a stream error must never be thrown.
  req.on('error', () => undefined);
}

/** JSON as body-parser's strict mode reads it: UTF-8, a leading BOM dropped, an object or array. */
function parseJson(bytes: Buffer): unknown {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // body-parser's reading of an empty body (here: a BOM alone): {}, which the schema refuses.
  if (text.length === 0) return {};
  const first = /^[ \t\n\r]*(.)/s.exec(text)?.[1];
  if (first === '{' || first === '[') {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // Answered below, as body-parser's parse failure is.
    }
  }
  throw new PetrelError('body_invalid', 'the body is not valid JSON');
}

/**
 * Runs handlers in order as Express would: a handler's next(err), throw or rejected
 * promise ends the chain with that error; next() moves on. `done` is called once: with the
 * first error, or with nothing when the chain ran out (or was skipped with 'route' /
 * 'router'). An error after that (a handler that called next(err) and then threw) goes to
 * `late`, not to a second answer.
 */
function run(chain: RequestHandler[], req: Request, res: Response, done: (err?: unknown) => void, late: (err: unknown) => void): void {
  let i = 0;
  let ended = false;
  const end = (err?: unknown): void => {
    if (ended) return;
    ended = true;
    done(err);
  };
  const step: NextFunction = (err?: unknown) => {
    if (ended) {
      if (err !== undefined && err !== null && err !== 'route' && err !== 'router') late(err);
      return;
    }
    if (err === 'route' || err === 'router') return end();
    if (err !== undefined && err !== null) return end(err);
    const handler = chain[i++];
    if (!handler) return end();
    try {
      const result: unknown = handler(req, res, step);
      if (result instanceof Promise) result.then(undefined, (e: unknown) => step(e ?? new Error('Rejected promise')));
    } catch (e) {
      step(e);
    }
  };
  step();
}
