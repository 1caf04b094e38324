import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AUDIENCE_BUCKETS, bucketOf, canonicalBroadcast, filterOf } from '../../src/domain/audience.js';
import type { BroadcastTarget } from '../../src/domain/message.js';
import { CloseCode, FrameType, WireCodec, type PushFrame } from '../../src/protocol/index.js';
import type { BroadcastPublish } from '../../src/rpc/contract.js';
import { RawDevice } from '../support/raw-device.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * Broadcast waves (src/gateway/fanout-waves.ts): publishes that reach a gateway together
 * are fanned out in one pass (each device's PUSHes of the wave go out in one write,
 * DeviceConnection.sendPushes), in the order the publishes came, each to exactly the
 * devices its filter and buckets select; a wave stays within half the send buffer.
 */

const codec = new WireCodec();
let seq = 0;

function publishOf(gw: TestGateway, target: BroadcastTarget, buckets: [number, number] = [0, AUDIENCE_BUCKETS], data: unknown = null, logSeq?: number): BroadcastPublish {
  const id = `bc-${++seq}`;
  const exp = Date.now() + 60_000;
  const at = logSeq ?? seq;
  const frame = Buffer.from(codec.encode({ t: FrameType.PUSH, id, ts: Date.now(), exp, data, log: 'app', seq: at } as PushFrame));
  return { appId: gw.app.appId, seq: at, filter: filterOf(canonicalBroadcast(target)), fromBucket: buckets[0], toBucket: buckets[1], frame, messageId: id, expiresAt: exp };
}

interface Online {
  dev: RawDevice;
  deviceId: string;
}

async function online(gw: TestGateway, topics: string[]): Promise<Online> {
  const dev = await RawDevice.connect(gw.port);
  const creds = await dev.register(gw.app.appId, gw.app.clientKey);
  await dev.hello(creds);
  if (topics.length > 0) assert.equal(gw.gateway.changeTopics(creds.deviceId, topics, true), true);
  return { dev, deviceId: creds.deviceId };
}

function pushIds(d: Online): string[] {
  return d.dev.frames.filter((f): f is PushFrame => f.t === FrameType.PUSH).map((f) => f.id);
}

async function histogram(gw: TestGateway, name: string): Promise<{ count: number; sum: number }> {
  const values = (await gw.rt.metrics.registry.getSingleMetric(name)!.get()).values;
  return {
    count: values.find((v) => (v as { metricName?: string }).metricName === `${name}_count`)?.value ?? 0,
    sum: values.find((v) => (v as { metricName?: string }).metricName === `${name}_sum`)?.value ?? 0,
  };
}

describe('gateway: broadcast waves', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.close();
  });

  it('publishes that arrive together go out as one wave, to each device in order, each only where its filter and buckets say', async () => {
    const news = await online(gw, ['news']);
    const sports = await online(gw, ['sports']);
    const none = await online(gw, []);
    const devices = [news, sports, none];
    const onlyNewsBucket: [number, number] = [bucketOf(news.deviceId), bucketOf(news.deviceId) + 1];
    const publishes = [
      publishOf(gw, { kind: 'all' }),
      publishOf(gw, { kind: 'topic', topic: 'news' }),
      publishOf(gw, { kind: 'topic', topic: 'sports' }),
      publishOf(gw, { kind: 'condition', condition: 'news || sports' }),
      publishOf(gw, { kind: 'condition', condition: '!news' }),
      publishOf(gw, { kind: 'all' }, onlyNewsBucket),
    ];
    const inBucket = (d: Online) => bucketOf(d.deviceId) === onlyNewsBucket[0];
    const expected = new Map<Online, string[]>([
      [news, [publishes[0]!, publishes[1]!, publishes[3]!, publishes[5]!].map((p) => p.messageId)],
      [sports, [publishes[0]!, publishes[2]!, publishes[3]!, publishes[4]!, ...(inBucket(sports) ? [publishes[5]!] : [])].map((p) => p.messageId)],
      [none, [publishes[0]!, publishes[4]!, ...(inBucket(none) ? [publishes[5]!] : [])].map((p) => p.messageId)],
    ]);
    const wavesBefore = await histogram(gw, 'petrel_gateway_publishes_per_wave');

    const outcomes = await Promise.all(publishes.map((p) => gw.gateway.publish(p)));
    const reached = outcomes.map((o) => o.reached);

    assert.deepEqual(reached, publishes.map((p) => devices.filter((d) => expected.get(d)!.includes(p.messageId)).length));
    for (const d of devices) {
      await waitFor(() => pushIds(d).length >= expected.get(d)!.length, 'the wave arrives');
      assert.deepEqual(pushIds(d), expected.get(d), 'exactly its PUSHes, in the order they were published');
    }
    const waves = await histogram(gw, 'petrel_gateway_publishes_per_wave');
    assert.deepEqual({ count: waves.count - wavesBefore.count, sum: waves.sum - wavesBefore.sum }, { count: 1, sum: publishes.length });
    for (const d of devices) d.dev.destroy();
  });

  it('publishes that arrive later go out together in a later wave', async () => {
    const d = await online(gw, []);
    const wavesBefore = await histogram(gw, 'petrel_gateway_publishes_per_wave');
    const first = gw.gateway.publish(publishOf(gw, { kind: 'all' }));
    await new Promise((r) => setImmediate(r));
    const later = [1, 2, 3].map(() => gw.gateway.publish(publishOf(gw, { kind: 'all' })));
    assert.deepEqual((await Promise.all([first, ...later])).map((o) => o.reached), [1, 1, 1, 1]);
    const waves = await histogram(gw, 'petrel_gateway_publishes_per_wave');
    assert.deepEqual({ count: waves.count - wavesBefore.count, sum: waves.sum - wavesBefore.sum }, { count: 2, sum: 4 });
    await waitFor(() => pushIds(d).length === 4, 'four PUSHes');
    d.dev.destroy();
  });

  it('sorts a wave by seq, and answers late a publish below a seq an earlier wave wrote', async () => {
    const d = await online(gw, []);
    const base = seq + 1000;
    const [s3, s1, s2] = [publishOf(gw, { kind: 'all' }, undefined, null, base + 3), publishOf(gw, { kind: 'all' }, undefined, null, base + 1), publishOf(gw, { kind: 'all' }, undefined, null, base + 2)];
    const together = await Promise.all([s3, s1, s2].map((p) => gw.gateway.publish(p)));
    assert.deepEqual(together.map((o) => o.late), [false, false, false], 'out of order within one wave is not late: one write');
    await waitFor(() => pushIds(d).length === 3, 'three PUSHes');
    assert.deepEqual(pushIds(d), [s1, s2, s3].map((p) => p.messageId), 'in seq order');
    const below = publishOf(gw, { kind: 'all' }, undefined, null, base);
    const above = publishOf(gw, { kind: 'all' }, undefined, null, base + 4);
    assert.deepEqual(await gw.gateway.publish(below), { reached: 1, late: true });
    assert.deepEqual(await gw.gateway.publish(above), { reached: 1, late: false });
    d.dev.destroy();
  });

  it('a revoked broadcast still waiting for its wave is not written at all', async () => {
    const d = await online(gw, []);
    const kept = publishOf(gw, { kind: 'all' });
    const revoked = publishOf(gw, { kind: 'all' });
    const answers = [gw.gateway.publish(revoked), gw.gateway.publish(kept)];
    // Before the wave starts (next event-loop turn): the dispatcher's revoke arrives.
    const told = gw.gateway.revoke(gw.app.appId, revoked.messageId, Buffer.from(codec.encode({ t: FrameType.REVOKE, id: revoked.messageId })), revoked.filter);
    assert.equal(told, 1);
    assert.deepEqual((await Promise.all(answers)).map((o) => o.reached), [0, 1], 'the revoked publish reached no one');
    await waitFor(() => pushIds(d).length === 1, 'the kept PUSH');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pushIds(d), [kept.messageId]);
    d.dev.destroy();
  });
});

describe('gateway: broadcast waves and a small send buffer', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ gateway: { sendBufferBytes: 4096 } });
  });
  after(async () => {
    await gw.close();
  });

  it('splits a wave that would not fit the send buffer instead of closing a healthy device as slow', async () => {
    const d = await online(gw, []);
    // Ten PUSHes of ~950 bytes: together far past the 4 KiB buffer, one at a time nothing.
    // A wave holds at most half the buffer: two of them.
    const publishes = Array.from({ length: 10 }, () => publishOf(gw, { kind: 'all' }, undefined, 'x'.repeat(900)));
    assert.ok(publishes.every((p) => p.frame.length > 4096 / 6 && p.frame.length <= 4096 / 4));
    const wavesBefore = await histogram(gw, 'petrel_gateway_publishes_per_wave');
    assert.deepEqual((await Promise.all(publishes.map((p) => gw.gateway.publish(p)))).map((o) => o.reached), publishes.map(() => 1));
    await waitFor(() => pushIds(d).length === 10, 'every PUSH');
    assert.deepEqual(pushIds(d), publishes.map((p) => p.messageId));
    const waves = await histogram(gw, 'petrel_gateway_publishes_per_wave');
    assert.deepEqual({ count: waves.count - wavesBefore.count, sum: waves.sum - wavesBefore.sum }, { count: 5, sum: 10 });
    assert.equal(await gw.metric('petrel_gateway_closes_total', { code: String(CloseCode.SLOW_CONSUMER) }), 0);
    d.dev.destroy();
  });
});
