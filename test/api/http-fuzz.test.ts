import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { apiOperations } from '../../src/api/api-operations.js';
import { loadConfig } from '../../src/config/load.js';
import { errorCatalog, isErrorCode } from '../../src/domain/errors.js';
import { startTestStack, TEST_ADMIN_TOKEN, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { fuzzCases } from '../support/fuzz-cases.js';

/**
 * The HTTP API under hostile input (issue #7): any endpoint of the API, any method, path
 * parameters from real ids to garbage, bodies from valid ones mutated to random bytes,
 * any credentials. Every answer is one the API documents: a success status of an
 * endpoint, or an error of the catalog with the catalog's status — never a 5xx, and the
 * service keeps answering. `npm run fuzz` runs many more cases than the suite.
 */

const operations = apiOperations(loadConfig({ env: {} }).messages);
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const SUCCESS = new Set(operations.flatMap((op) => Object.keys(op.responses).map(Number)));

/** A string a path segment might be given: real ids, edge cases, random text. */
const segment = (ids: readonly string[]) => fc.oneof(
  fc.constantFrom('x', '0', '-1', '..', '%', '%zz', '%00', 'a'.repeat(300), '🙂', 'alias:x', '__proto__', 'constructor'),
  fc.constantFrom(...ids),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** A valid message to mutate: the fields a real request has. */
const validMessage = { to: { devices: ['d'] }, data: { hello: 1 }, notification: { title: 't', body: 'b' }, ttl: 60 };

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.record({ to: fc.oneof(fc.jsonValue(), fc.record({ devices: fc.array(fc.string(), { maxLength: 3 }) }), fc.record({ topic: fc.string() }), fc.record({ condition: fc.string() }), fc.record({ all: fc.jsonValue() })), data: fc.jsonValue() }, { requiredKeys: [] }),
  fc.tuple(fc.constantFrom(...Object.keys(validMessage)), fc.jsonValue()).map(([k, v]) => ({ ...validMessage, [k]: v })),
  fc.record({ messages: fc.array(fc.jsonValue(), { maxLength: 5 }) }),
  fc.record({ name: fc.jsonValue(), audience: fc.jsonValue(), message: fc.jsonValue(), subscribe: fc.jsonValue(), unsubscribe: fc.jsonValue(), status: fc.jsonValue() }, { requiredKeys: [] }),
);

/** How a body travels: as JSON, as text that is not JSON, or none. */
const body = fc.oneof(
  jsonish.map((v) => ({ text: JSON.stringify(v) ?? 'null', type: 'application/json' })),
  fc.string({ maxLength: 200 }).map((text) => ({ text, type: 'application/json' })),
  fc.tuple(fc.string({ maxLength: 100 }), fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data', '')).map(([text, type]) => ({ text, type })),
  fc.constant(null),
);

describe('HTTP API under hostile input: documented answers only, never a 5xx', () => {
  let stack: TestStack;
  let app: TestApp;
  const ids: string[] = [];

  before(async () => {
    stack = await startTestStack();
    app = await stack.newApp();
    ids.push(app.appId);
    const sent = await stack.api('/v1/messages', { body: { to: { aliases: ['nobody'] }, data: 1 }, secret: app.serverSecret });
    if (sent.body.id) ids.push(sent.body.id);
  });
  after(async () => {
    await stack.close();
  });

  it('a path parameter that is not valid percent-encoding is a 400, not an internal error (found by this fuzzer)', async () => {
    for (const path of ['/v1/devices/%zz', '/v1/messages/%E0%A4%A', '/v1/campaigns/%/start']) {
      const res = await fetch(stack.http + path, { method: path.endsWith('start') ? 'POST' : 'GET', headers: { authorization: `Bearer ${app.serverSecret}` } });
      const answer = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 400, path);
      assert.equal(answer.error.code, 'query_invalid', path);
    }
  });

  it('random requests to every endpoint', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        // By name, so a counterexample reads as one line.
        fc.constantFrom(...operations.map((o) => `${o.method} ${o.path}`)),
        fc.option(fc.constantFrom(...METHODS), { freq: 4 }),
        fc.array(segment(ids), { minLength: 4, maxLength: 4 }),
        body,
        fc.constantFrom('server', 'admin', 'none', 'garbage', 'other-app'),
        fc.option(fc.string({ maxLength: 300 }), { freq: 4 }),
        async (opName, otherMethod, segments, payload, auth, idempotencyKey) => {
          const op = operations.find((o) => `${o.method} ${o.path}` === opName)!;
          let i = 0;
          const path = op.path.replace(/\{[^}]+\}/g, () => {
            const s = segments[i++ % segments.length]!;
            // Mostly encoded as a client would; sometimes raw, as a hostile client might.
            return i % 3 === 0 ? s.replace(/[/?#]/g, '_') : encodeURIComponent(s);
          });
          const headers: Record<string, string> = {};
          if (auth === 'server') headers['authorization'] = `Bearer ${app.serverSecret}`;
          else if (auth === 'admin') headers['authorization'] = `Bearer ${TEST_ADMIN_TOKEN}`;
          else if (auth === 'other-app') headers['authorization'] = `Bearer ${stack.app.serverSecret}`;
          else if (auth === 'garbage') headers['authorization'] = 'Bearer \u00ff\u0000x';
          if (payload?.type) headers['content-type'] = payload.type;
          if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey.replace(/[\r\n]/g, ' ');
          const method = otherMethod ?? op.method.toUpperCase();
          let res: Response;
          try {
            res = await fetch(stack.http + path, { method, headers, ...(payload && method !== 'GET' ? { body: payload.text } : {}) });
          } catch (err) {
            // fetch refuses some header values itself (a non-ByteString): not the server's answer.
            if (err instanceof TypeError && /header|ByteString/i.test(String(err.cause ?? err.message))) return;
            throw err;
          }
          const text = await res.text();
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          const what = `${method} ${path} (${auth}) → ${res.status} ${text.slice(0, 300)}`;
          assert.ok(res.status < 500, what);
          if (res.status < 400) {
            assert.ok(SUCCESS.has(res.status), `undocumented success status: ${what}`);
            return;
          }
          const answer = JSON.parse(text) as { error?: { code?: string } };
          const code = answer.error?.code ?? '';
          assert.ok(isErrorCode(code), `an error outside the catalog: ${what}`);
          assert.equal(errorCatalog[code].status, res.status, `status differs from the catalog's for ${code}: ${what}`);
        },
      ),
      // The failing request and answer, not only the generated values (the assertion says them).
      { numRuns: fuzzCases(200), includeErrorInReport: true },
    );
    // Still serving after all of it.
    const health = await stack.api('/v1/messages', { body: { to: { aliases: ['nobody'] }, data: 1 }, secret: app.serverSecret });
    assert.equal(health.status, 202);
    assert.ok([...seen.keys()].some((s) => s >= 400), 'the requests reached the error paths');
  });
});
