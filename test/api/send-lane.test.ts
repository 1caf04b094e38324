import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import express, { type RequestHandler } from 'express';
import { PetrelError } from '../../src/domain/errors.js';
import { errorHandler } from '../../src/api/error-handler.js';
import { withSendLane } from '../../src/api/send-lane.js';
import { createLogger } from '../../src/observability/logger.js';

/**
 * The send lane on its own (src/api/send-lane.ts), in front of an Express app with the same
 * handlers: which requests it takes, and that it answers them as Express does. The real
 * endpoints behind both are in send-requests.test.ts.
 */
describe('send lane: plain JSON sends before Express, the rest through it', () => {
  const routed: string[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  let server: Server;
  let base: string;

  const auth: RequestHandler = (req, res, next) => {
    if (req.headers.authorization !== 'Bearer ok') throw new PetrelError('auth_failed');
    res.locals['app'] = 'a';
    next();
  };
  const echo: RequestHandler = async (req, res) => {
    await Promise.resolve();
    res.set('X-App', String(res.locals['app'])).status(202).json({ body: req.body as unknown, path: req.path, params: req.params });
  };
  /** Answers, then fails: the failure must neither crash the process nor answer twice. */
  const failsLate: RequestHandler = async (_req, res) => {
    res.status(202).json({ ok: true });
    await Promise.resolve();
    throw new Error('after the answer');
  };
  /** Passes the request on, which no send handler does: a 500, not a second run through Express. */
  const passesOn: RequestHandler = (_req, _res, next) => next();
  /** Fails twice: one answer, for the first. */
  const failsTwice: RequestHandler = (_req, _res, next) => {
    next(new Error('first'));
    throw new Error('second');
  };

  before(async () => {
    const log = createLogger({ level: 'warn' }, {
      write: (line: string) => {
        ((JSON.parse(line) as { level: number }).level >= 50 ? errors : warnings).push(line);
      },
    });
    const app = express();
    app.use((req, _res, next) => {
      routed.push(`${req.method} ${req.url}`);
      next();
    });
    app.use(express.json({ limit: 1024, strict: true }));
    app.post('/v1/messages', auth, echo);
    app.post('/late', auth, failsLate);
    app.post('/on', auth, passesOn);
    app.post('/twice', auth, failsTwice);
    const onError = errorHandler(log);
    app.use(onError);
    const lane = withSendLane(app, {
      '/v1/messages': { maxBodyBytes: 1024, chain: [auth, echo] },
      '/late': { maxBodyBytes: 1024, chain: [auth, failsLate] },
      '/on': { maxBodyBytes: 1024, chain: [auth, passesOn] },
      '/twice': { maxBodyBytes: 1024, chain: [auth, failsTwice] },
    }, onError, log);
    server = createServer(lane).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const chunked = (bytes: Buffer) => new ReadableStream({
    start(c) {
      c.enqueue(bytes.subarray(0, 1));
      c.enqueue(bytes.subarray(1));
      c.close();
    },
  });
  /** One request; `viaExpress` says whether Express saw it. */
  async function post(body: string | Buffer, opts: { chunked?: boolean; headers?: Record<string, string>; path?: string } = {}) {
    const before = routed.length;
    const bytes = Buffer.from(body);
    const res = await fetch(base + (opts.path ?? '/v1/messages'), {
      method: 'POST',
      headers: { authorization: 'Bearer ok', 'content-type': 'application/json', ...opts.headers },
      body: opts.chunked ? chunked(bytes) : bytes,
      ...(opts.chunked ? { duplex: 'half' } : {}),
    } as RequestInit);
    const text = await res.text();
    return {
      answer: { status: res.status, type: res.headers.get('content-type'), app: res.headers.get('x-app'), body: text ? JSON.parse(text) as unknown : undefined },
      viaExpress: routed.length > before,
    };
  }

  it('takes a plain JSON body of a stated length, and answers it as Express answers the same body sent chunked', async () => {
    const bodies = ['{"to":{"aliases":["a"]},"data":"é"}', '[1]', ' \n{}', '\ufeff{"a":1}', '\ufeff', '\ufeff\ufeff{}', '{"to":', '1', 'null', '"x"', '   '];
    for (const text of bodies) {
      const lane = await post(text);
      const routedAnswer = await post(text, { chunked: true });
      assert.equal(lane.viaExpress, false, `${JSON.stringify(text)} taken by the lane`);
      assert.equal(routedAnswer.viaExpress, true);
      assert.deepEqual(lane.answer, routedAnswer.answer, JSON.stringify(text));
    }
    const unauthenticated = await post('{}', { headers: { authorization: 'Bearer no' } });
    assert.deepEqual([unauthenticated.viaExpress, unauthenticated.answer.status], [false, 401]);
    const { answer } = await post('{"x":1}');
    assert.deepEqual(answer.body, { body: { x: 1 }, path: '/v1/messages', params: {} });
  });

  it('leaves to Express what it does not take: chunked, compressed, other types and charsets, over the limit, a query string', async () => {
    const body = '{"x":1}';
    const cases: Array<[string, Parameters<typeof post>[1], number]> = [
      ['gzip', { headers: { 'content-encoding': 'gzip' } }, 202],
      ['latin1', { headers: { 'content-type': 'application/json; charset=latin1' } }, 415],
      ['text', { headers: { 'content-type': 'text/plain' } }, 202],
      ['query', { path: '/v1/messages?x=1' }, 202],
    ];
    for (const [name, opts, status] of cases) {
      const sent = await post(name === 'gzip' ? gzipSync(body) : body, opts);
      assert.equal(sent.viaExpress, true, name);
      // 415 is body-parser's own error; the API's handler maps it (body_invalid) in the real app.
      assert.equal(sent.answer.status, name === 'latin1' ? 400 : status, name);
    }
    const atLimit = `{"x":"${'y'.repeat(1024 - 8)}"}`;
    assert.equal(Buffer.byteLength(atLimit), 1024);
    assert.deepEqual([(await post(atLimit)).viaExpress, (await post(atLimit)).answer.status], [false, 202]);
    const over = await post(`${atLimit} `);
    assert.deepEqual([over.viaExpress, over.answer.status, (over.answer.body as { error: { code: string } }).error.code], [true, 413, 'body_too_large']);
  });

  it('a handler failing after its answer: the answer stands, one error is logged, the process carries on (both paths)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const chunkedBody of [false, true]) {
        const errorsBefore = errors.length;
        const late = await post('{}', { path: '/late', chunked: chunkedBody });
        assert.deepEqual([late.viaExpress, late.answer.status, late.answer.body], [chunkedBody, 202, { ok: true }]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(errors.length - errorsBefore, 1, 'logged once');
        assert.match(errors.at(-1)!, /after its answer was sent/);
      }
      assert.deepEqual(unhandled, []);
      assert.equal((await post('{}')).answer.status, 202, 'still serving');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a handler failing twice: one answer, for the first error; the second is a warning', async () => {
    const errorsBefore = errors.length;
    const warningsBefore = warnings.length;
    const twice = await post('{}', { path: '/twice' });
    assert.deepEqual([twice.viaExpress, twice.answer.status], [false, 500]);
    assert.equal(errors.length - errorsBefore, 1);
    assert.match(errors.at(-1)!, /first/);
    assert.equal(warnings.length - warningsBefore, 1);
    assert.match(warnings.at(-1)!, /second/);
  });

  it('a handler passing the request on is a 500, not a second run through Express', async () => {
    const on = await post('{}', { path: '/on' });
    assert.deepEqual([on.viaExpress, on.answer.status, (on.answer.body as { error: { code: string } }).error.code], [false, 500, 'internal']);
  });
});
