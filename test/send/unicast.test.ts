import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, FrameType, type PushFrame } from '../../src/protocol/index.js';
import { MemoryStore, PetrelClient } from '../../sdk-client/src/index.js';
import type { MessageTrace } from '../../src/store/message-store.js';
import { NodeRegistry } from '../../src/store/node-registry.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

async function device(stack: TestStack, app: TestApp = stack.app, gateway = 0): Promise<{ dev: RawDevice; creds: DeviceCredentials }> {
  const dev = await RawDevice.connect(stack.gateways[gateway]!.port);
  const creds = await dev.register(app.appId, app.clientKey);
  return { dev, creds };
}

async function online(stack: TestStack, creds: DeviceCredentials, gateway = 0): Promise<RawDevice> {
  const dev = await RawDevice.connect(stack.gateways[gateway]!.port);
  await dev.hello(creds);
  return dev;
}

async function send(stack: TestStack, body: unknown, secret?: string) {
  return stack.api('/v1/messages', { body, ...(secret ? { secret } : {}) });
}

async function trace(stack: TestStack, id: string): Promise<MessageTrace> {
  return (await stack.api(`/v1/messages/${id}`)).body as unknown as MessageTrace;
}

describe('unicast send path (every tier in process, Thrift between them)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ gateways: 2, overrides: { dispatch: { inboxCap: 3, redeliveryDelayMs: 300 }, gateway: { ackTimeoutMs: 300, maxResends: 2 } } });
  });
  after(async () => {
    await stack.close();
  });

  it('an online device gets the PUSH; its ACK makes the trace say delivered', async () => {
    const { dev, creds } = await device(stack);
    await dev.hello(creds);
    await waitFor(() => true, 'noop');
    const res = await send(stack, { to: { devices: [creds.deviceId] }, data: { order: 42, tags: ['a'] }, notification: { title: 'Hi', body: 'there' }, ttl: 60 });
    assert.equal(res.status, 202);
    assert.equal(res.body.accepted, 1);
    assert.match(res.headers.get('location') ?? '', new RegExp(`/v1/messages/${res.body.id}$`));
    const push = (await dev.nextOf(FrameType.PUSH)) as PushFrame;
    assert.equal(push.id, res.body.id);
    assert.deepEqual(push.data, { order: 42, tags: ['a'] });
    assert.deepEqual(push.n, { title: 'Hi', body: 'there' });
    assert.ok(push.exp - push.ts === 60_000);
    dev.send({ t: FrameType.ACK, ids: [push.id] });
    dev.send({ t: FrameType.OPENED, id: push.id });
    await waitForTrace(stack, res.body.id, (t) => t.counts.opened === 1);
    const t = await trace(stack, res.body.id);
    assert.equal(t.state, 'completed');
    assert.deepEqual(t.counts, { targeted: 1, delivered: 1, opened: 1, expired: 0, dropped: 0, failed: 0 });
    assert.deepEqual(t.devices, { [creds.deviceId]: 'delivered' });
    dev.destroy();
  });

  it('an offline device gets its inbox in order on connect; repeated and forged ACKs count nothing', async () => {
    const { dev, creds } = await device(stack);
    dev.destroy();
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await send(stack, { to: { devices: [creds.deviceId] }, data: n })).body.id);
    await waitForTrace(stack, ids[2]!, (t) => t.state === 'dispatched');
    assert.equal((await trace(stack, ids[0]!)).devices?.[creds.deviceId], 'pending');
    const back = await online(stack, creds);
    const got = [await back.nextOf(FrameType.PUSH), await back.nextOf(FrameType.PUSH), await back.nextOf(FrameType.PUSH)];
    assert.deepEqual(got.map((p) => p.id), ids);
    back.send({ t: FrameType.ACK, ids: [...ids, ids[0]!, 'not-a-real-id'] });
    back.send({ t: FrameType.ACK, ids });
    await waitForTrace(stack, ids[2]!, (t) => t.counts.delivered === 1);
    for (const id of ids) assert.equal((await trace(stack, id)).counts.delivered, 1);
    back.destroy();
  });

  it('a PUSH not ACKed is sent again while the device stays connected, then waits for the next session', async () => {
    const { dev, creds } = await device(stack);
    await dev.hello(creds);
    const { body } = await send(stack, { to: { devices: [creds.deviceId] }, data: 'again' });
    const first = await dev.nextOf(FrameType.PUSH);
    const second = await dev.nextOf(FrameType.PUSH, 2000);
    assert.equal(second.id, first.id);
    assert.equal(first.id, body.id);
    dev.destroy();
    const back = await online(stack, creds, 1);
    assert.equal((await back.nextOf(FrameType.PUSH)).id, body.id);
    back.send({ t: FrameType.ACK, ids: [body.id] });
    await waitForTrace(stack, body.id, (t) => t.state === 'completed');
    back.destroy();
  });

  it('inbox overflow drops the oldest, counts them dropped, and the next session starts with RESYNC', async () => {
    const { dev, creds } = await device(stack);
    dev.destroy();
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push((await send(stack, { to: { devices: [creds.deviceId] }, data: n })).body.id);
    await waitForTrace(stack, ids[4]!, (t) => t.state === 'dispatched');
    await waitForTrace(stack, ids[1]!, (t) => t.counts.dropped === 1);
    const back = await online(stack, creds);
    assert.deepEqual(await back.nextOf(FrameType.RESYNC), { t: FrameType.RESYNC, reason: 'inbox_overflow' });
    const got = [await back.nextOf(FrameType.PUSH), await back.nextOf(FrameType.PUSH), await back.nextOf(FrameType.PUSH)];
    assert.deepEqual(got.map((p) => p.id), ids.slice(2));
    const t0 = await trace(stack, ids[0]!);
    assert.equal(t0.state, 'completed');
    assert.equal(t0.devices?.[creds.deviceId], 'dropped');
    back.destroy();
    // RESYNC is sent once: the next session starts clean.
    const again = await online(stack, creds);
    assert.equal((await again.nextOf(FrameType.PUSH)).id, ids[2]);
    again.destroy();
  });

  it('TTL 0: delivered to a connected device, dropped for an offline one', async () => {
    const a = await device(stack);
    await a.dev.hello(a.creds);
    const b = await device(stack);
    b.dev.destroy();
    const { body } = await send(stack, { to: { devices: [a.creds.deviceId, b.creds.deviceId] }, data: 'now', ttl: 0 });
    const push = await a.dev.nextOf(FrameType.PUSH);
    a.dev.send({ t: FrameType.ACK, ids: [push.id] });
    await waitForTrace(stack, body.id, (t) => t.counts.delivered === 1);
    const t = await trace(stack, body.id);
    assert.equal(t.counts.dropped, 1);
    assert.equal(t.devices?.[b.creds.deviceId], 'dropped');
    const late = await online(stack, b.creds);
    await assert.rejects(late.nextOf(FrameType.PUSH, 300), /timed out/);
    late.destroy();
    a.dev.destroy();
  });

  it('an expired message is not replayed, and the trace says expired', async () => {
    const { dev, creds } = await device(stack);
    dev.destroy();
    const { body } = await send(stack, { to: { devices: [creds.deviceId] }, data: 'soon gone', ttl: 1 });
    await waitForTrace(stack, body.id, (t) => t.state === 'dispatched');
    await new Promise((r) => setTimeout(r, 1100));
    const back = await online(stack, creds);
    await assert.rejects(back.nextOf(FrameType.PUSH, 300), /timed out/);
    const t = await trace(stack, body.id);
    assert.equal(t.state, 'expired');
    assert.equal(t.counts.expired, 1);
    assert.equal(t.devices?.[creds.deviceId], 'expired');
    back.destroy();
  });

  it('aliases and accounts: bound through the API, resolved at dispatch, rebinding an alias moves it', async () => {
    const a = await device(stack);
    const b = await device(stack);
    await a.dev.hello(a.creds);
    await b.dev.hello(b.creds);
    const put = (dev: string, kind: string, name: string) => stack.api(`/v1/devices/${dev}/${kind}/${name}`, { method: 'PUT' });
    assert.equal((await put(a.creds.deviceId, 'aliases', 'alice-phone')).status, 204);
    assert.equal((await put(a.creds.deviceId, 'accounts', 'user-7')).status, 204);
    assert.equal((await put(b.creds.deviceId, 'accounts', 'user-7')).status, 204);
    assert.deepEqual((await stack.api(`/v1/devices/${a.creds.deviceId}/aliases`)).body, { aliases: ['alice-phone'] });

    const viaAlias = await send(stack, { to: { aliases: ['alice-phone', 'nobody'] }, data: 'alias' });
    assert.equal(viaAlias.status, 202);
    assert.equal(viaAlias.body.accepted, 2);
    assert.equal((await a.dev.nextOf(FrameType.PUSH)).data, 'alias');
    const viaAccount = await send(stack, { to: { accounts: ['user-7'] }, data: 'account' });
    for (const d of [a.dev, b.dev]) {
      const p = await d.nextOf(FrameType.PUSH);
      assert.equal(p.data, 'account');
      d.send({ t: FrameType.ACK, ids: [p.id] });
    }
    await waitForTrace(stack, viaAccount.body.id, (t) => t.counts.delivered === 2);
    assert.equal((await trace(stack, viaAccount.body.id)).counts.targeted, 2);

    assert.equal((await put(b.creds.deviceId, 'aliases', 'alice-phone')).status, 204);
    assert.deepEqual((await stack.api(`/v1/devices/${a.creds.deviceId}/aliases`)).body, { aliases: [] });
    await send(stack, { to: { aliases: ['alice-phone'] }, data: 'moved' });
    assert.equal((await b.dev.nextOf(FrameType.PUSH)).data, 'moved');
    assert.equal((await stack.api(`/v1/devices/${b.creds.deviceId}/aliases/alice-phone`, { method: 'DELETE' })).status, 204);
    const none = await send(stack, { to: { aliases: ['alice-phone'] }, data: 'nobody' });
    await waitForTrace(stack, none.body.id, (t) => t.state === 'completed');
    assert.equal((await trace(stack, none.body.id)).counts.targeted, 0);
    a.dev.destroy();
    b.dev.destroy();
  });

  it('one session per device across gateways: a HELLO on gateway 2 closes the session on gateway 1 with 4006', async () => {
    const { dev, creds } = await device(stack, stack.app, 0);
    await dev.hello(creds);
    await new Promise((r) => setTimeout(r, 50));
    const other = await online(stack, creds, 1);
    assert.equal(await dev.closeCode(3000), CloseCode.REPLACED);
    const { body } = await send(stack, { to: { devices: [creds.deviceId] }, data: 'here' });
    assert.equal((await other.nextOf(FrameType.PUSH)).id, body.id);
    other.destroy();
  });

  it('a gateway that could not be reached gets the message later while its device stays connected', async () => {
    const { dev, creds } = await device(stack);
    await dev.hello(creds);
    await new Promise((r) => setTimeout(r, 50));
    // As if the gateway were cut off from Redis longer than its registry TTL: not listed.
    const registry = new NodeRegistry(stack.rt.redis, stack.rt.keys);
    await registry.withdraw('gateway', stack.gateways[0]!.id);
    const { body } = await send(stack, { to: { devices: [creds.deviceId] }, data: 'eventually' });
    await waitForTrace(stack, body.id, (t) => t.state === 'dispatched');
    // It announces itself again within a third of the TTL; the redelivery finds it then.
    const push = await dev.nextOf(FrameType.PUSH, 5000);
    assert.equal(push.id, body.id);
    dev.send({ t: FrameType.ACK, ids: [push.id] });
    await waitForTrace(stack, body.id, (t) => t.state === 'completed');
    assert.equal(await stack.rt.redis.zcard(stack.rt.keys.redeliverySchedule()), 0);
    dev.destroy();
  });

  it('SUB and UNSUB travel to the dispatcher in the report batch and come back as SUBACK', async () => {
    const { dev, creds } = await device(stack);
    await dev.hello(creds);
    dev.send({ t: FrameType.SUB, rid: 1, topics: ['news', 'sport'] });
    assert.deepEqual(await dev.nextOf(FrameType.SUBACK), { t: FrameType.SUBACK, rid: 1, ok: true });
    dev.send({ t: FrameType.SUB, rid: 2, topics: ['bad topic!'] });
    assert.deepEqual(await dev.nextOf(FrameType.SUBACK), { t: FrameType.SUBACK, rid: 2, ok: false, err: 'topic_invalid' });
    assert.deepEqual((await stack.rt.redis.smembers(stack.rt.keys.deviceTopics(creds.deviceId))).sort(), ['news', 'sport']);
    dev.destroy();
  });

  it('through the SDK: shown exactly once although the gateway re-sent it', async () => {
    const client = new PetrelClient({
      host: '127.0.0.1', port: stack.gateways[0]!.port, appId: stack.app.appId, clientKey: stack.app.clientKey,
      store: new MemoryStore(), ackDelayMs: 1000,
    });
    const seen: string[] = [];
    client.on('message', (m) => seen.push(m.id));
    client.on('notification', (m) => seen.push(m.id));
    const connected = new Promise<string>((resolve) => client.once('connected', ({ deviceId }) => resolve(deviceId)));
    await client.start();
    const deviceId = await connected;
    const { body } = await send(stack, { to: { devices: [deviceId] }, data: { x: 1 } });
    // ACKs are held 1 s by this client, the gateway re-sends after 300 ms: the app must still see it once.
    await waitForTrace(stack, body.id, (t) => t.counts.delivered === 1, 5000);
    assert.deepEqual(seen, [body.id]);
    await client.close();
  });
});

describe('unicast send path: bad input (clear 4xx, nothing stored)', () => {
  let stack: TestStack;
  let deviceId: string;
  before(async () => {
    stack = await startTestStack();
    const { dev, creds } = await device(stack);
    deviceId = creds.deviceId;
    dev.destroy();
  });
  after(async () => {
    await stack.close();
  });

  const messageKeys = () => stack.storedMessages();

  it('refuses unknown devices and another app\'s devices alike, storing nothing', async () => {
    const before = await messageKeys();
    const other = await stack.newApp();
    const otherDev = await device(stack, other);
    otherDev.dev.destroy();
    for (const devices of [['AAAAAAAAAAAAAAAAAAAAAA'], [deviceId, otherDev.creds.deviceId]]) {
      const res = await send(stack, { to: { devices }, data: 1 });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'device_unknown');
      assert.deepEqual(res.body.error.details.devices, devices.filter((d) => d !== deviceId));
    }
    assert.equal(await messageKeys(), before);
  });

  it('answers each malformed body with its code', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ to: { devices: [deviceId] }, data: 'x'.repeat(5000) }, 400, 'data_too_large'],
      [{ to: { devices: [deviceId] }, ttl: -1 }, 400, 'body_invalid'],
      [{ to: { devices: [deviceId] }, ttl: 10 * 86_400 }, 400, 'body_invalid'],
      [{ to: { devices: [deviceId] }, tll: 60 }, 400, 'body_invalid'],
      [{ to: {} }, 400, 'body_invalid'],
      [{ to: { devices: [deviceId], aliases: ['a'] } }, 400, 'body_invalid'],
      [{ to: { devices: Array.from({ length: 1001 }, (_, i) => `d${i}`) } }, 400, 'body_invalid'],
      [{ to: { devices: [deviceId] }, data: JSON.parse('{"__proto__": {"admin": true}}') }, 400, 'payload_invalid'],
      [{ to: { devices: [deviceId] }, notification: { title: 1 } }, 400, 'body_invalid'],
    ];
    const before = await messageKeys();
    for (const [body, status, code] of cases) {
      const res = await send(stack, body);
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.error.code, code, JSON.stringify(body).slice(0, 80));
    }
    const bad = await stack.api('/v1/messages', { raw: '{"to": ' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'body_invalid');
    const huge = await stack.api('/v1/messages', { raw: JSON.stringify({ to: { devices: [deviceId] }, data: 'y'.repeat(70_000) }) });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error.code, 'body_too_large');
    assert.equal(await messageKeys(), before);
  });

  it('field errors name every bad field', async () => {
    const res = await send(stack, { to: { devices: ['bad id!'] }, ttl: 'soon' });
    assert.equal(res.status, 400);
    const paths = res.body.error.details.fields.map((f: { path: string }) => f.path).sort();
    assert.ok(paths.includes('ttl'), JSON.stringify(paths));
    assert.ok(paths.some((p: string) => p.startsWith('to')), JSON.stringify(paths));
  });

  it('needs the bearer secret of an active app; another app\'s message reads as not found', async () => {
    assert.equal((await send(stack, { to: { devices: [deviceId] } }, 'x'.repeat(40))).status, 401);
    const noAuth = await fetch(`${stack.http}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(noAuth.status, 401);
    assert.equal(((await noAuth.json()) as { error: { code: string } }).error.code, 'auth_failed');
    const { body } = await send(stack, { to: { devices: [deviceId] }, data: 1 });
    const other = await stack.newApp();
    const read = await stack.api(`/v1/messages/${body.id}`, { secret: other.serverSecret });
    assert.equal(read.status, 404);
    assert.equal(read.body.error.code, 'message_not_found');
    assert.equal((await stack.api('/v1/messages/not-an-id')).status, 404);
    const bind = await stack.api(`/v1/devices/${deviceId}/aliases/x`, { method: 'PUT', secret: other.serverSecret });
    assert.equal(bind.status, 404);
    assert.equal(bind.body.error.code, 'device_not_found');
  });
});

async function waitForTrace(stack: TestStack, id: string, check: (t: MessageTrace) => boolean, timeoutMs = 3000): Promise<void> {
  let last: MessageTrace | undefined;
  await waitFor(async () => check((last = await trace(stack, id))), `trace of ${id} to match`, timeoutMs, 20).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${JSON.stringify(last)}`);
  });
}
