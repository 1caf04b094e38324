import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameType } from '../../src/protocol/index.js';
import type { StatBucket } from '../../src/store/stats-store.js';
import { RawDevice } from '../support/raw-device.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

interface StatsAnswer {
  granularity: 'hour' | 'day';
  buckets: StatBucket[];
}

describe('per-app statistics (GET /v1/stats)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ overrides: { stats: { flushMs: 20 } } });
  });
  after(async () => {
    await stack.close();
  });

  const stats = async (app: TestApp, query: string) => (await stack.api(`/v1/stats${query}`, { secret: app.serverSecret })).body as unknown as StatsAnswer;
  const last = (a: StatsAnswer) => a.buckets[a.buckets.length - 1]!;

  it('counts accepted, delivered, opened, expired and failed by hour and by day, once each', async () => {
    const app = await stack.newApp();
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    const creds = await dev.register(app.appId, app.clientKey);
    await dev.hello(creds);
    const send = (body: unknown) => stack.api('/v1/messages', { body, secret: app.serverSecret });
    const first = await send({ to: { devices: [creds.deviceId] }, data: 1 });
    await send({ to: { aliases: ['nobody'] }, data: 2 });
    const push = await dev.nextOf(FrameType.PUSH);
    assert.equal(push.id, first.body.id);
    dev.send({ t: FrameType.ACK, ids: [push.id, push.id] });
    dev.send({ t: FrameType.OPENED, id: push.id });
    dev.send({ t: FrameType.OPENED, id: push.id });
    const offline = await RawDevice.connect(stack.gateways[0]!.port);
    const gone = await offline.register(app.appId, app.clientKey);
    offline.destroy();
    await send({ to: { devices: [gone.deviceId] }, data: 3, ttl: 0 });

    const expected = { accepted: 3, delivered: 1, opened: 1, expired: 1, failed: 1 };
    await waitFor(async () => last(await stats(app, '')).opened === 1 && last(await stats(app, '')).expired === 1, 'the counters');
    await new Promise((r) => setTimeout(r, 100));
    const hours = await stats(app, '');
    assert.equal(hours.granularity, 'hour');
    assert.equal(hours.buckets.length, 24);
    const hourStart = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    assert.deepEqual(last(hours), { start: hourStart, ...expected });
    for (const b of hours.buckets.slice(0, -1)) assert.equal(b.accepted, 0);
    const days = await stats(app, '?granularity=day');
    assert.equal(days.buckets.length, 30);
    assert.deepEqual(last(days), { start: `${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`, ...expected });

    // An explicit range, as RFC 3339 and as epoch ms.
    const now = Date.now();
    const ranged = await stats(app, `?granularity=hour&from=${encodeURIComponent(new Date(now - 3_600_000).toISOString())}&to=${now}`);
    assert.equal(ranged.buckets.length, 2);
    assert.deepEqual(last(ranged), { start: hourStart, ...expected });

    // Another app sees only its own (empty) counters.
    const other = await stack.newApp();
    assert.deepEqual(last(await stats(other, '')), { start: hourStart, accepted: 0, delivered: 0, opened: 0, expired: 0, failed: 0 });
    dev.destroy();
  });

  it('refuses a bad query with query_invalid and the field', async () => {
    const cases: Array<[string, string]> = [
      ['?granularity=week', 'granularity'],
      ['?from=yesterday', 'from'],
      ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['?granularity=hour&from=0', 'from'],
      ['?granularity=day&from=0&to=86400000000', 'from'],
      ['?color=blue', ''],
    ];
    for (const [query, path] of cases) {
      const res = await stack.api(`/v1/stats${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, 'query_invalid', query);
      if (path) assert.equal(res.body.error.details.fields[0]!.path, path, query);
    }
  });
});
