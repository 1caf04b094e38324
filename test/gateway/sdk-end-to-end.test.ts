import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import type { Session, SessionHooks } from '../../src/gateway/session-hooks.js';
import { AUDIENCE_BUCKETS } from '../../src/domain/audience.js';
import { CloseCode, FrameType, WireCodec } from '../../src/protocol/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { waitFor as until } from '../support/wait.js';

class AckLog implements SessionHooks {
  readonly ackedIds: string[] = [];
  readonly broadcastAckedIds: string[] = [];
  readonly subscribed: string[] = [];
  sessionOpened(): void {}
  sessionClosed(): void {}
  acked(_s: Session, ids: readonly string[]): void {
    this.ackedIds.push(...ids);
  }
  broadcastAcked(s: Session, ids: readonly string[]): void {
    assert.ok(s.deviceNo >= 0, 'only sessions with a device number');
    this.broadcastAckedIds.push(...ids);
  }
  opened(): void {}
  async subscribe(_s: Session, topics: readonly string[], subscribe: boolean): Promise<void> {
    if (subscribe) this.subscribed.push(...topics);
  }
}

describe('SDK against the real gateway', () => {
  let gw: TestGateway;
  const hooks = new AckLog();
  before(async () => {
    gw = await startTestGateway({ hooks });
  });
  after(() => gw.close());

  function device(store = new MemoryStore()): PetrelClient {
    return new PetrelClient({ host: '127.0.0.1', port: gw.port, appId: gw.app.appId, clientKey: gw.app.clientKey, store, backoff: { baseMs: 50, capMs: 200 }, ackDelayMs: 10 });
  }

  it('registers, authenticates, receives a PUSH once, ACKs it, and subscribes', async () => {
    const client = device();
    const received: PushMessage[] = [];
    client.on('notification', (m) => received.push(m));
    client.on('message', (m) => received.push(m));
    await client.start();
    const connected = await client.waitFor('connected');
    const push = { t: FrameType.PUSH, id: 'e2e-1', ts: Date.now(), exp: Date.now() + 60_000, data: { k: 1 }, n: { title: 'T', body: 'B' } } as const;
    assert.equal(gw.gateway.deliver(connected.deviceId, push), true);
    // The gateway re-sends until ACKed: a duplicate must be ACKed again but not shown.
    assert.equal(gw.gateway.deliver(connected.deviceId, push), true);
    await until(() => hooks.ackedIds.filter((id) => id === 'e2e-1').length === 2, 'both copies ACKed');
    assert.equal(received.length, 1, 'shown exactly once');
    assert.deepEqual({ id: received[0]!.id, data: received[0]!.data, title: received[0]!.notification?.title }, { id: 'e2e-1', data: { k: 1 }, title: 'T' });
    await client.subscribe(['news', 'sports']);
    assert.deepEqual(hooks.subscribed.slice(-2), ['news', 'sports']);
    await client.close();
  });

  it('ACKs of a broadcast fanned out here are reported apart (by device number), unicast ACKs as before', async () => {
    const client = device();
    const shown: string[] = [];
    client.on('notification', (m) => shown.push(m.id));
    await client.start();
    const { deviceId } = await client.waitFor('connected');
    const exp = Date.now() + 60_000;
    const frame = Buffer.from(new WireCodec().encode({ t: FrameType.PUSH, id: 'bc-1', ts: Date.now(), exp, n: { title: 'T', body: 'B' }, log: 'app', seq: 1 }));
    const publish = { appId: gw.app.appId, seq: 1, filter: '', fromBucket: 0, toBucket: AUDIENCE_BUCKETS, frame, messageId: 'bc-1', expiresAt: exp };
    // A repeat while the first is under way shares its answer.
    assert.deepEqual((await Promise.all([gw.gateway.publish(publish), gw.gateway.publish(publish)])).map((o) => o.reached), [1, 1]);
    assert.equal(gw.gateway.deliver(deviceId, { t: FrameType.PUSH, id: 'uni-1', ts: Date.now(), exp, data: { k: 1 } }), true);
    await until(() => hooks.broadcastAckedIds.includes('bc-1') && hooks.ackedIds.includes('uni-1'), 'both ACKs reported');
    assert.ok(!hooks.ackedIds.includes('bc-1'), 'the broadcast ACK is not reported as a unicast one');
    assert.ok(!hooks.broadcastAckedIds.includes('uni-1'));
    assert.deepEqual(shown, ['bc-1']);
    // The same publish again (the dispatcher retrying one whose answer it gave up on): the
    // gateway answers what the first did and writes nothing (a write would bring an ACK).
    assert.equal((await gw.gateway.publish(publish)).reached, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(hooks.broadcastAckedIds.filter((id) => id === 'bc-1').length, 1, 'not written again');
    await client.close();
  });

  it('a restarted device keeps its identity and its dedup memory', async () => {
    const store = new MemoryStore();
    const first = device(store);
    const shown: string[] = [];
    first.on('message', (m) => shown.push(m.id));
    await first.start();
    const { deviceId } = await first.waitFor('connected');
    gw.gateway.deliver(deviceId, { t: FrameType.PUSH, id: 'once', ts: Date.now(), exp: Date.now() + 60_000, data: 1 });
    await until(() => hooks.ackedIds.includes('once'), 'ACK');
    await first.close();

    const second = device(store);
    second.on('message', (m) => shown.push(m.id));
    await second.start();
    const again = await second.waitFor('connected');
    assert.equal(again.deviceId, deviceId, 'same device id after restart');
    const acksBefore = hooks.ackedIds.length;
    gw.gateway.deliver(deviceId, { t: FrameType.PUSH, id: 'once', ts: Date.now(), exp: Date.now() + 60_000, data: 1 });
    await until(() => hooks.ackedIds.length > acksBefore, 'ACK of the redelivery');
    assert.deepEqual(shown, ['once'], 'the redelivered message was not shown again');
    await second.close();
  });

  it('a second client with the same credentials replaces the first, which stops (4006)', async () => {
    const store = new MemoryStore();
    const first = device(store);
    await first.start();
    await first.waitFor('connected');
    const saved = await store.load();
    const second = device(new MemoryStore(saved));
    const stopped = first.waitFor('stopped');
    await second.start();
    await second.waitFor('connected');
    assert.equal((await stopped).code, CloseCode.REPLACED);
    await second.close();
    await first.close();
  });

  it('reconnects after the gateway kicks it with a retryable code', async () => {
    const client = device();
    await client.start();
    const { deviceId } = await client.waitFor('connected');
    const reconnected = new Promise<void>((resolve) => {
      let n = 0;
      client.on('connected', () => {
        if (++n === 1) resolve();
      });
    });
    gw.gateway.kick(deviceId, CloseCode.PROTOCOL_ERROR, 'test');
    await reconnected;
    assert.equal(gw.gateway.isConnected(deviceId), true);
    await client.close();
  });
});
