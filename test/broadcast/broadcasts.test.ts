import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import { PetrelError } from '../../src/domain/errors.js';
import { Broadcaster, type Broadcast } from '../../src/dispatch/broadcaster.js';
import type { BroadcastPublish, GatewayLink } from '../../src/dispatch/gateway-link.js';
import { WireCodec } from '../../src/protocol/index.js';
import { BroadcastLog } from '../../src/store/broadcast-log.js';
import { MessageStore } from '../../src/store/message-store.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { DispatchService, SendRequest } from '../../src/rpc/gen/index.js';
import { reportToThrift } from '../../src/rpc/convert.js';
import { RpcPool } from '../../src/rpc/rpc-pool.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

interface Trace {
  state: string;
  counts: { targeted: number; sent?: number; delivered: number; opened: number };
}

/** A device through our SDK that remembers every message the app was given. */
class Device {
  readonly got: PushMessage[] = [];
  readonly revoked: Array<{ id: string; shown: boolean }> = [];
  readonly resyncs: string[] = [];
  client: PetrelClient;

  constructor(
    private readonly stack: TestStack,
    private readonly app: TestApp,
    readonly store = new MemoryStore(),
    gateway = 0,
  ) {
    this.client = this.make(gateway);
  }

  private make(gateway: number): PetrelClient {
    const client = new PetrelClient({
      host: '127.0.0.1', port: this.stack.gateways[gateway]!.port, appId: this.app.appId, clientKey: this.app.clientKey,
      store: this.store, backoff: { baseMs: 50, capMs: 200 }, ackDelayMs: 5,
    });
    client.on('message', (m) => this.got.push(m));
    client.on('notification', (m) => this.got.push(m));
    client.on('revoked', (r) => this.revoked.push(r));
    client.on('resync', (r) => this.resyncs.push(r.reason));
    return client;
  }

  get id(): string {
    return this.client.deviceId!;
  }

  count(messageId: string): number {
    return this.got.filter((m) => m.id === messageId).length;
  }

  async start(): Promise<this> {
    await this.client.start();
    await this.client.waitFor('connected');
    return this;
  }

  /** Offline (its state kept in its store) until `restart`. */
  async stop(): Promise<void> {
    await this.client.close();
  }

  async restart(gateway = 0): Promise<void> {
    this.client = this.make(gateway);
    await this.start();
  }
}

describe('broadcasts: topics, conditions and the whole app through the app log', () => {
  let stack: TestStack;
  let app: TestApp;
  const online: Device[] = [];

  before(async () => {
    stack = await startTestStack({ gateways: 2, overrides: { dispatch: { logMaxEntries: 4 } } });
    app = await stack.newApp();
  });
  after(async () => {
    await Promise.all(online.map((d) => d.client.close().catch(() => undefined)));
    await stack.close();
  });

  async function devices(n: number, topicsOf: (i: number) => string[] = () => []): Promise<Device[]> {
    const made: Device[] = [];
    for (let i = 0; i < n; i += 100) {
      made.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => new Device(stack, app, new MemoryStore(), (i + j) % 2).start()))));
    }
    online.push(...made);
    await Promise.all(made.map((d, i) => (topicsOf(i).length > 0 ? d.client.subscribe(topicsOf(i)) : undefined)));
    return made;
  }

  async function send(to: unknown, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await stack.api('/v1/messages', { body: { to, data: { hello: 'all' }, ...extra }, secret: app.serverSecret });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  }

  async function trace(id: string): Promise<Trace> {
    return (await stack.api(`/v1/messages/${id}`, { secret: app.serverSecret })).body as unknown as Trace;
  }

  it('2,000 subscribed devices on two gateways get a topic message exactly once, and the trace counts their ACKs', async () => {
    // Half subscribe themselves (SUB through the gateway), half are subscribed by the app server.
    const fleet = await devices(2000, (i) => (i % 2 === 0 ? ['news'] : []));
    const byServer = fleet.filter((_, i) => i % 2 === 1);
    for (let i = 0; i < byServer.length; i += 500) {
      const res = await stack.api('/v1/topics/news/subscribers', { body: { subscribe: byServer.slice(i, i + 500).map((d) => d.id) }, secret: app.serverSecret });
      assert.equal(res.status, 200);
    }
    const bystanders = await devices(20);

    const id = await send({ topic: 'news' });
    await waitFor(() => fleet.every((d) => d.count(id) === 1), 'every subscriber got it', 20_000);
    await waitFor(async () => (await trace(id)).counts.delivered === 2000, 'every ACK counted', 10_000);
    const t = await trace(id);
    assert.equal(t.counts.targeted, 2000, 'audience: the topic\'s subscribers');
    assert.equal(t.counts.sent, 2000, 'each device counted once as sent');
    assert.equal(t.state, 'dispatched');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(fleet.every((d) => d.count(id) === 1), 'nothing shown twice');
    assert.ok(bystanders.every((d) => d.count(id) === 0), 'devices without the topic got nothing');
    const push = fleet[0]!.got.find((m) => m.id === id)!;
    assert.deepEqual(push.data, { hello: 'all' });

    // Clicks count once per device too.
    fleet[0]!.client.opened(id);
    fleet[0]!.client.opened(id);
    fleet[1]!.client.opened(id);
    await waitFor(async () => (await trace(id)).counts.opened === 2, 'opened counted', 5000);
  });

  it('a condition reaches exactly the devices whose topics satisfy it; all: true reaches the whole app and no other', async () => {
    const sets = [['a'], ['a', 'b'], ['c'], ['b'], []];
    const group = await devices(sets.length * 4, (i) => sets[i % sets.length]!);
    const other = await stack.newApp();
    const stranger = await new Device(stack, other).start();
    online.push(stranger);

    const cond = await send({ condition: "'a' in topics && !b || c" });
    const expected = group.filter((_, i) => { const s = sets[i % sets.length]!; return (s.includes('a') && !s.includes('b')) || s.includes('c'); });
    await waitFor(() => expected.every((d) => d.count(cond) === 1), 'condition matches got it', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(group.filter((d) => d.count(cond) > 0).length, expected.length, 'no device outside the condition');

    const everyone = await send({ all: true });
    await waitFor(() => online.filter((d) => d !== stranger).every((d) => d.count(everyone) === 1), 'whole app got it', 15_000);
    assert.equal(stranger.count(everyone), 0, 'another app\'s device');
    assert.equal((await trace(everyone)).counts.targeted >= online.length - 1, true);
  });

  it('a device that was offline catches up on reconnect, once; one registered later does not get older broadcasts', async () => {
    const [d] = await devices(1, () => ['sports']);
    const before = await send({ topic: 'sports' });
    await waitFor(() => d!.count(before) === 1, 'live', 5000);
    await d!.stop();
    const missed = await send({ topic: 'sports' }, { notification: { title: 'Goal', body: '1-0' } });
    const unrelated = await send({ topic: 'weather' });
    await waitFor(async () => (await trace(missed)).state === 'dispatched', 'published', 5000);
    await d!.restart(1);
    await waitFor(() => d!.count(missed) === 1, 'caught up on reconnect', 5000);
    assert.equal(d!.count(unrelated), 0);
    await d!.stop();
    await d!.restart(0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d!.count(missed), 1, 'not replayed again');
    assert.equal(d!.count(before), 1);
    await waitFor(async () => (await trace(missed)).counts.delivered === 1, 'catch-up ACK counted', 5000);

    const [late] = await devices(1, () => ['sports']);
    await late!.stop();
    await late!.restart();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(late!.count(missed), 0, 'a broadcast from before the device existed');
  });

  it('a device whose cursor passed a broadcast not yet published everywhere still gets it on reconnect, once', async () => {
    // Send jobs run side by side and a publish that timed out is retried, so a device can
    // get seq n+1 before seq n reaches its gateway. Here seq n is appended and recorded
    // (Broadcaster.prepare) but its publish has not landed when the device goes offline.
    const [d] = await devices(1, () => ['late']);
    const log = new BroadcastLog(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 4);
    const broadcaster = new Broadcaster(stack.rt.redis, stack.rt.keys, log, { live: async () => [] } as unknown as GatewayLink, new WireCodec(), stack.rt.metrics, stack.rt.log);
    const earlierId = await send({ topic: 'late' }, { sendAt: Date.now() + 3_600_000 });
    const [stored] = await new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000).load([earlierId]);
    const earlier = await broadcaster.prepare(stored as Broadcast);
    const later = await send({ topic: 'late' });
    await waitFor(async () => d!.count(later) === 1 && (await trace(later)).counts.delivered === 1, 'the later one delivered and ACKed', 5000);
    assert.equal(d!.count(earlierId), 0);
    await d!.stop();
    await d!.restart(1);
    await waitFor(() => d!.count(earlierId) === 1, 'the earlier one caught up although the cursor is past it', 5000);
    await waitFor(async () => (await trace(earlierId)).counts.delivered === 1, 'its ACK counted', 5000);
    // Still being published, but ACKed now: not sent again.
    const sent = (await trace(earlierId)).counts.sent;
    await d!.stop();
    await d!.restart(0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await trace(earlierId)).counts.sent, sent, 'an ACKed entry is not sent again');
    assert.equal(d!.count(earlierId), 1);
    // Settled: it leaves the set catch-up checks against every cursor.
    const key = stack.rt.keys.appLogUnsettled(app.appId);
    assert.notEqual(await stack.rt.redis.zscore(key, earlier.messageId), null);
    await log.settle(app.appId, earlier.messageId);
    assert.equal(await stack.rt.redis.zscore(key, earlier.messageId), null);
    // Revoked while being published: it leaves the set too.
    const revokedId = await send({ topic: 'late' }, { sendAt: Date.now() + 3_600_000 });
    const [toRevoke] = await new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000).load([revokedId]);
    await broadcaster.prepare(toRevoke as Broadcast);
    assert.notEqual(await stack.rt.redis.zscore(key, revokedId), null);
    assert.equal((await stack.api(`/v1/messages/${revokedId}/revoke`, { method: 'POST', secret: app.serverSecret })).status, 200);
    assert.equal(await stack.rt.redis.zscore(key, revokedId), null, 'revoked: gone');
  });

  it('a broadcast a gateway got after a later seq stays checked: a device offline until its publish completed still gets it', async () => {
    const [d] = await devices(1, () => ['overtaken']);
    const log = new BroadcastLog(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 4);
    // Publishes straight to this process's gateways, as the dispatcher's link would.
    let liveGateways = stack.gateways;
    const link = {
      live: async () => liveGateways.map((g) => ({ id: g.id, load: 0 })),
      publish: async (id: string, entry: BroadcastPublish) => {
        const outcome = await stack.gateways.find((g) => g.id === id)!.publish(entry);
        return { sent: outcome.reached, late: outcome.late };
      },
    } as unknown as GatewayLink;
    const broadcaster = new Broadcaster(stack.rt.redis, stack.rt.keys, log, link, new WireCodec(), stack.rt.metrics, stack.rt.log);
    const earlierId = await send({ topic: 'overtaken' }, { sendAt: Date.now() + 3_600_000 });
    const [stored] = await new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000).load([earlierId]);
    const earlier = await broadcaster.prepare(stored as Broadcast);
    const later = await send({ topic: 'overtaken' });
    await waitFor(async () => d!.count(later) === 1 && (await trace(later)).counts.delivered === 1, 'the later one delivered and ACKed', 5000);
    await d!.stop();
    // The earlier publish lands on every gateway while the device is offline: late there.
    assert.equal(await broadcaster.publish(earlier), 0);
    const key = stack.rt.keys.appLogUnsettled(app.appId);
    assert.notEqual(await stack.rt.redis.zscore(key, earlierId), null, 'overtaken: still unsettled');
    await d!.restart(1);
    await waitFor(() => d!.count(earlierId) === 1, 'the overtaken broadcast caught up after its publish completed', 5000);

    // A gateway live at the append and gone by the settle may have passed a device too,
    // though every gateway that answered was in order.
    const third = await send({ topic: 'overtaken' }, { sendAt: Date.now() + 3_600_000 });
    const [thirdStored] = await new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000).load([third]);
    const thirdEntry = await broadcaster.prepare(thirdStored as Broadcast);
    liveGateways = stack.gateways.slice(0, 1);
    await broadcaster.publish(thirdEntry);
    assert.notEqual(await stack.rt.redis.zscore(key, third), null, 'a gateway went missing: overtaken');
  });

  it('a catch-up that moves a device past an entry not recorded yet keeps that entry unsettled', async () => {
    const [d] = await devices(1, () => ['unrecorded']);
    const first = await send({ topic: 'unrecorded' });
    await waitFor(() => d!.count(first) === 1, 'live', 5000);
    await d!.stop();
    const log = new BroadcastLog(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 4);
    // Appended only: its dispatch has not written its record or published it yet.
    const pendingId = await send({ topic: 'unrecorded' }, { sendAt: Date.now() + 3_600_000 });
    await log.append(app.appId, pendingId, Date.now() + 3_600_000);
    const after = await send({ topic: 'unrecorded' });
    await waitFor(async () => (await trace(after)).state === 'dispatched', 'published', 5000);
    await d!.restart(1);
    await waitFor(() => d!.count(after) === 1, 'caught up past the unrecorded entry', 5000);
    // Its publish completing in order everywhere does not settle it: it stays for the
    // cursors up to the head now (the device above has one).
    const key = stack.rt.keys.appLogUnsettled(app.appId);
    assert.equal(await stack.rt.redis.zscore(key, pendingId), 'inf', 'still being published');
    await log.settle(app.appId, pendingId);
    const head = Number(await stack.rt.redis.hget(stack.rt.keys.appLog(app.appId), 'seq'));
    assert.equal(Number(await stack.rt.redis.zscore(key, pendingId)), head);
    // (A mark racing a settle: test/store/unsettled-broadcasts.test.ts.)
  });

  it('a device that missed more than the log keeps gets RESYNC cursor_gone and the newest entries', async () => {
    const [d] = await devices(1, () => ['flood']);
    const first = await send({ topic: 'flood' });
    await waitFor(() => d!.count(first) === 1, 'cursor set', 5000);
    await d!.stop();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await send({ topic: 'flood' }));
    await waitFor(async () => (await trace(ids.at(-1)!)).state === 'dispatched', 'published', 5000);
    await d!.restart();
    await waitFor(() => d!.resyncs.includes('cursor_gone'), 'RESYNC', 5000);
    await waitFor(() => ids.slice(-4).every((id) => d!.count(id) === 1), 'the retained ones', 5000);
    assert.equal(d!.count(ids[0]!), 0);
  });

  it('a revoked broadcast is withdrawn from connected devices and never reaches offline ones', async () => {
    const [on, off] = await devices(2, () => ['promo']);
    await off!.stop();
    const id = await send({ topic: 'promo' });
    await waitFor(() => on!.count(id) === 1, 'live', 5000);
    const res = await stack.api(`/v1/messages/${id}/revoke`, { method: 'POST', secret: app.serverSecret });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body as unknown as { state: string }).state, 'revoked');
    await waitFor(() => on!.revoked.some((r) => r.id === id && r.shown), 'REVOKE reached the SDK', 5000);
    await off!.restart();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(off!.count(id), 0, 'revoked before it reached the device');
    assert.equal((await trace(id)).state, 'revoked');

    const unicast = await stack.api('/v1/messages', { body: { to: { devices: [on!.id] }, data: 1 }, secret: app.serverSecret });
    const refused = await stack.api(`/v1/messages/${unicast.body.id}/revoke`, { method: 'POST', secret: app.serverSecret });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'message_not_broadcast');
    const other = await stack.newApp();
    const foreign = await stack.api(`/v1/messages/${id}/revoke`, { method: 'POST', secret: other.serverSecret });
    assert.equal(foreign.status, 404, 'another app\'s broadcast does not exist for it');
  });

  it('refuses bad conditions with the position, and receipts for broadcasts', async () => {
    const bad = await stack.api('/v1/messages', { body: { to: { condition: 'a && (b ||' }, data: 1 }, secret: app.serverSecret });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'condition_invalid');
    assert.match(bad.body.error.message, /position/);
    const cb = await stack.api('/v1/messages', { body: { to: { all: true }, data: 1, callbackUrl: 'https://example.com/r' }, secret: app.serverSecret });
    assert.equal(cb.status, 400);
    assert.equal(cb.body.error.code, 'callback_unsupported');
    const notTrue = await stack.api('/v1/messages', { body: { to: { all: false }, data: 1 }, secret: app.serverSecret });
    assert.equal(notTrue.status, 400);
  });

  it('an app-server subscribe racing a device\'s HELLO still reaches the gateway\'s fan-out index', async () => {
    const [d] = await devices(1);
    const routeKey = stack.rt.keys.route(d!.id);
    await waitFor(async () => (await stack.rt.redis.get(routeKey)) !== null, 'the route exists', 5000);
    const [gatewayId, sessionId] = (await stack.rt.redis.get(routeKey))!.split(' ') as [string, string];
    // The race: HELLO has read the topics (version 0), the ONLINE report is not processed
    // yet, so the subscribe finds no route to tell.
    await stack.rt.redis.del(routeKey);
    const sub = await stack.api('/v1/topics/race/subscribers', { body: { subscribe: [d!.id] }, secret: app.serverSecret });
    assert.equal(sub.status, 200, JSON.stringify(sub.body));
    const missed = await send({ topic: 'race' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d!.count(missed), 0, 'the gateway was not told (the race happened)');
    // Now the ONLINE report arrives, with the version the gateway's index was built from.
    const pool = new RpcPool({ client: DispatchService.Client, host: '127.0.0.1', port: stack.dispatcherPort, size: 1 });
    try {
      await pool.call('report', reportToThrift({
        gatewayId, acks: [], broadcastAcks: [], opened: [], subscriptions: [],
        sessions: [{ kind: 'online', deviceId: d!.id, appId: app.appId, sessionId, topicsVersion: 0 }],
      }));
    } finally {
      pool.close();
    }
    await waitFor(async () => {
      const id = await send({ topic: 'race' });
      await new Promise((r) => setTimeout(r, 100));
      return d!.count(id) === 1;
    }, 'the device gets the topic\'s messages once its session has the whole set', 5000, 200);
  });

  it('the internal Thrift send takes topics, conditions and the whole app too', async () => {
    const subscribers = await devices(4, () => ['thrift-news']);
    const pool = new RpcPool({ client: DispatchService.Client, host: '127.0.0.1', port: stack.dispatcherPort, size: 1 });
    try {
      const sent = await pool.call('send', new SendRequest({ app: app.appId, topic: 'thrift-news', dataJson: '{"via":"thrift"}' }));
      assert.equal(sent.accepted, 1);
      await waitFor(() => subscribers.every((d) => d.count(sent.id) === 1), 'the topic\'s devices got it', 10_000);
      assert.deepEqual(subscribers[0]!.got.find((m) => m.id === sent.id)!.data, { via: 'thrift' });
      const bad = await pool.call('send', new SendRequest({ app: app.appId, condition: 'a && (' })).catch((e: unknown) => e);
      assert.ok(bad instanceof PetrelError && bad.code === 'condition_invalid', String(bad));
      const two = await pool.call('send', new SendRequest({ app: app.appId, topic: 'x', all: true })).catch((e: unknown) => e);
      assert.ok(two instanceof PetrelError && two.code === 'body_invalid', String(two));
    } finally {
      pool.close();
    }
  });
});
