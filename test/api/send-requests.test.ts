import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FrameType } from '../../src/protocol/index.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { startTestStack, type TestStack } from '../support/stack-fixture.js';

interface Answer {
  id: string;
  accepted: number;
  refused: number;
  results: Array<{ id?: string; accepted?: number; error?: { code: string; details?: { fields?: Array<{ path: string }> } } }>;
  error: { code: string; details?: { limit?: number } };
}

describe('send requests: Idempotency-Key, batch, rate limit', () => {
  let stack: TestStack;
  let dev: RawDevice;
  let creds: DeviceCredentials;
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}, secret?: string) => {
    const res = await stack.api(path, { body, headers, ...(secret ? { secret } : {}) });
    return { status: res.status, body: res.body as unknown as Answer, headers: res.headers };
  };
  const messageKeys = () => stack.storedMessages();

  before(async () => {
    stack = await startTestStack();
    dev = await RawDevice.connect(stack.gateways[0]!.port);
    creds = await dev.register(stack.app.appId, stack.app.clientKey);
    await dev.hello(creds);
  });
  after(async () => {
    dev.destroy();
    await stack.close();
  });

  it('the same Idempotency-Key and body answers the first 202 again and sends once', async () => {
    const body = { to: { devices: [creds.deviceId] }, data: { n: 'idem' } };
    const before = await messageKeys();
    const first = await post('/v1/messages', body, { 'idempotency-key': 'order-1001' });
    assert.equal(first.status, 202);
    const again = await post('/v1/messages', body, { 'idempotency-key': 'order-1001' });
    assert.equal(again.status, 202);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.headers.get('location'), `/v1/messages/${first.body.id}`);
    assert.equal(await messageKeys(), before + 1, 'stored once');
    const push = await dev.nextOf(FrameType.PUSH);
    assert.equal(push.id, first.body.id);
    dev.send({ t: FrameType.ACK, ids: [push.id] });
    await assert.rejects(dev.nextOf(FrameType.PUSH, 300), 'delivered once');

    const other = await post('/v1/messages', { ...body, data: { n: 'changed' } }, { 'idempotency-key': 'order-1001' });
    assert.equal(other.status, 409);
    assert.equal(other.body.error.code, 'idempotency_conflict');
    const anotherApp = await stack.newApp();
    const theirs = await post('/v1/messages', { to: { aliases: ['x'] } }, { 'idempotency-key': 'order-1001' }, anotherApp.serverSecret);
    assert.equal(theirs.status, 202, 'keys are per app');
  });

  it('sends answer alike whether taken before routing (exact path) or routed (a query string)', async () => {
    for (const path of ['/v1/messages', '/v1/messages?routed=1']) {
      const before = await messageKeys();
      const ok = await post(path, { to: { aliases: ['lane'] } });
      assert.equal(ok.status, 202, path);
      assert.equal(ok.headers.get('location'), `/v1/messages/${ok.body.id}`);
      assert.equal(await messageKeys(), before + 1, `${path}: stored`);
      const badJson = await stack.api(path, { raw: '{"to":' });
      assert.equal(badJson.status, 400, path);
      assert.equal((badJson.body as unknown as Answer).error.code, 'body_invalid');
      const badBody = await post(path, { to: { aliases: ['lane'] }, tll: 5 });
      assert.equal(badBody.body.error.code, 'body_invalid', path);
      const unknownSecret = await post(path, { to: { aliases: ['lane'] } }, {}, 'not-a-secret-of-any-app');
      assert.equal(unknownSecret.status, 401, path);
      assert.equal(unknownSecret.body.error.code, 'auth_failed');
    }
    for (const path of ['/v1/messages/batch', '/v1/messages/batch?routed=1']) {
      const batch = await post(path, { messages: [{ to: { aliases: ['lane'] } }, { to: {} }] });
      assert.equal(batch.status, 202, path);
      assert.equal(batch.body.accepted, 1);
      assert.equal(batch.body.refused, 1);
    }
  });

  it('a sending body that the lane before Express does not take is answered by Express alike', async () => {
    // The lane (src/api/send-lane.ts) takes plain JSON of a stated length; each of these
    // goes to Express instead, or to the lane in a form it must read the same way.
    const body = JSON.stringify({ to: { aliases: ['lane'] }, data: { n: 'é' } });
    const raw = async (init: { body?: BodyInit; headers?: Record<string, string>; path?: string }) => {
      const res = await fetch(stack.http + (init.path ?? '/v1/messages'), {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.app.serverSecret}`, 'content-type': 'application/json', ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
      return { status: res.status, body: (await res.json()) as Answer };
    };
    const chunked = (text: string) => new ReadableStream({
      start(c) {
        const bytes = Buffer.from(text);
        c.enqueue(bytes.subarray(0, 5));
        c.enqueue(bytes.subarray(5));
        c.close();
      },
    });
    const before = await messageKeys();
    const accepted = [
      await raw({ body }),
      await raw({ body: chunked(body) }),
      await raw({ body: gzipSync(body), headers: { 'content-encoding': 'gzip' } }),
      await raw({ body: `\ufeff ${body}` }),
      await raw({ body, headers: { 'content-type': 'Application/JSON; charset="UTF-8"' } }),
      await raw({ body, headers: { 'content-type': 'application/json; charset=utf-8; x=1' } }),
      await raw({ body: JSON.stringify({ messages: [JSON.parse(body)] }), path: '/v1/messages/batch' }),
      await raw({ body: chunked(JSON.stringify({ messages: [JSON.parse(body)] })), path: '/v1/messages/batch' }),
    ];
    assert.deepEqual(accepted.map((a) => a.status), Array(accepted.length).fill(202));
    assert.equal(await messageKeys(), before + accepted.length, 'each stored once');

    const refused = async (init: Parameters<typeof raw>[0], status: number, code: string) => {
      const answer = await raw(init);
      assert.deepEqual([answer.status, answer.body.error?.code], [status, code], JSON.stringify(init.headers ?? init.body));
    };
    for (const text of ['{"to":', '1', '"x"', 'null', '']) {
      await refused({ body: text }, 400, 'body_invalid');
      await refused({ body: chunked(text) }, 400, 'body_invalid');
    }
    await refused({ body, headers: { 'content-type': 'text/plain' } }, 400, 'body_invalid');
    await refused({ body, headers: { 'content-type': 'application/json; charset=latin1' } }, 400, 'body_invalid');
    await refused({ body, headers: { 'content-encoding': 'br;q=x' } }, 400, 'body_invalid');
    const big = JSON.stringify({ to: { aliases: ['lane'] }, data: 'x'.repeat(70 * 1024) });
    await refused({ body: big }, 413, 'body_too_large');
    await refused({ body: chunked(big) }, 413, 'body_too_large');
    await refused({ body, headers: { authorization: 'Bearer not-a-secret-of-any-app' } }, 401, 'auth_failed');
    assert.equal(await messageKeys(), before + accepted.length, 'nothing refused was stored');

    // A client that goes away mid-body: nothing is stored, and the next request is served.
    await new Promise<void>((resolve) => {
      const req = request(stack.http + '/v1/messages', {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.app.serverSecret}`, 'content-type': 'application/json', 'content-length': String(body.length + 10) },
      });
      req.on('error', () => resolve());
      req.write(body.slice(0, 10), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
    });
    assert.equal((await raw({ body })).status, 202);
    assert.equal(await messageKeys(), before + accepted.length + 1);

    // A retry may take the other way in (here: compressed, so through Express): same key and
    // body, the first answer again.
    const key = { 'idempotency-key': 'lane-then-express' };
    const first = await raw({ body, headers: key });
    const retried = await raw({ body: gzipSync(body), headers: { ...key, 'content-encoding': 'gzip' } });
    const viaQuery = await raw({ body, headers: key, path: '/v1/messages?retry=1' });
    assert.equal(first.status, 202);
    assert.deepEqual([retried.status, retried.body.id, viaQuery.body.id], [202, first.body.id, first.body.id]);
    assert.equal(await messageKeys(), before + accepted.length + 2, 'sent once');
  });

  it('concurrent requests with one key: one is stored, the other waits its turn (409 in progress) or replays it', async () => {
    const body = { to: { aliases: ['concurrent'] }, data: 1 };
    const answers = await Promise.all([1, 2, 3].map(() => post('/v1/messages', body, { 'idempotency-key': 'same-time' })));
    const ids = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.id));
    assert.equal(ids.size, 1);
    for (const a of answers.filter((x) => x.status !== 202)) {
      assert.equal(a.body.error.code, 'idempotency_in_progress');
      assert.equal(a.headers.get('retry-after'), '1');
    }
  });

  it('a refused request leaves no record: fixed and retried with the same key it is sent', async () => {
    const bad = await post('/v1/messages', { to: { devices: ['nosuchdevice'] } }, { 'idempotency-key': 'fix-me' });
    assert.equal(bad.body.error.code, 'device_unknown');
    const good = await post('/v1/messages', { to: { devices: [creds.deviceId] }, data: 'fixed' }, { 'idempotency-key': 'fix-me' });
    assert.equal(good.status, 202);
    dev.send({ t: FrameType.ACK, ids: [(await dev.nextOf(FrameType.PUSH)).id] });
    assert.equal((await post('/v1/messages', { to: { aliases: ['a'] } }, { 'idempotency-key': 'white space' })).body.error.code, 'idempotency_key_invalid');
  });

  it('a batch answers a result per item; good items are stored and delivered, bad ones refused alone', async () => {
    const to = { devices: [creds.deviceId] };
    const items = [
      JSON.stringify({ to, data: 'b1' }),
      JSON.stringify({ to: { devices: ['nosuchdevice'] }, data: 'b2' }),
      JSON.stringify({ to, data: 'b3', tll: 5 }),
      `{"to":${JSON.stringify(to)},"data":{"__proto__":1}}`,
      `{"to":${JSON.stringify(to)},"data":"b6","__proto__":{"ttl":0}}`,
      JSON.stringify({ to, data: 'b5' }),
    ];
    const sent = await stack.api('/v1/messages/batch', { raw: `{"messages":[${items.join(',')}]}` });
    const res = { status: sent.status, body: sent.body as unknown as Answer };
    assert.equal(res.status, 202);
    assert.equal(res.body.accepted, 2);
    assert.equal(res.body.refused, 4);
    assert.deepEqual(res.body.results.map((r) => r.error?.code ?? 'ok'), ['ok', 'device_unknown', 'body_invalid', 'payload_invalid', 'body_invalid', 'ok']);
    const got = [await dev.nextOf(FrameType.PUSH), await dev.nextOf(FrameType.PUSH)];
    assert.deepEqual(got.map((p) => p.data), ['b1', 'b5']);
    assert.deepEqual(got.map((p) => p.id), [res.body.results[0]!.id, res.body.results[5]!.id]);
    dev.send({ t: FrameType.ACK, ids: got.map((p) => p.id) });
    assert.equal((await post('/v1/messages/batch', { messages: [] })).body.error.code, 'body_invalid');
  });

  it('a batch with an Idempotency-Key is replayed whole', async () => {
    const body = { messages: [{ to: { aliases: ['u1'] } }, { to: { aliases: ['u2'] } }] };
    const first = await post('/v1/messages/batch', body, { 'idempotency-key': 'batch-7' });
    const again = await post('/v1/messages/batch', body, { 'idempotency-key': 'batch-7' });
    assert.deepEqual(again.body, first.body);
  });
});

describe('per-app rate limit', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ overrides: { limits: { appPointsPerSec: 20 }, messages: { maxBatch: 20 } } });
  });
  after(async () => {
    await stack.close();
  });

  it('answers 429 with Retry-After past the limit, counts a batch by its messages, and limits apps apart', async () => {
    const one = { to: { aliases: ['someone'] } };
    const batch = await stack.api('/v1/messages/batch', { body: { messages: Array.from({ length: 15 }, () => one) } });
    assert.equal(batch.status, 202);
    assert.equal(batch.headers.get('ratelimit-remaining'), '5');
    // Sequential requests: a second window may open meanwhile on a slow machine, so look
    // for the first refusal rather than counting exactly five.
    let limited = await stack.api('/v1/messages', { body: one });
    for (let i = 0; i < 40 && limited.status === 202; i++) limited = await stack.api('/v1/messages', { body: one });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const other = await stack.newApp();
    assert.equal((await stack.api('/v1/messages', { body: one, secret: other.serverSecret })).status, 202, 'another app has its own budget');
  });
});
