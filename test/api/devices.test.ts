import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore, PetrelClient } from '../../sdk-client/src/index.js';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

interface DeviceInfo {
  id: string;
  status: string;
  createdAt: number;
  pkg: string;
  online: boolean;
  connectedSince?: number;
  aliases: string[];
  accounts: string[];
  topics: string[];
}

async function registered(stack: TestStack, app: TestApp = stack.app): Promise<DeviceCredentials> {
  const dev = await RawDevice.connect(stack.gateways[0]!.port);
  const creds = await dev.register(app.appId, app.clientKey);
  dev.destroy();
  return creds;
}

async function online(stack: TestStack, creds: DeviceCredentials): Promise<RawDevice> {
  const dev = await RawDevice.connect(stack.gateways[0]!.port);
  await dev.hello(creds);
  return dev;
}

async function info(stack: TestStack, id: string): Promise<DeviceInfo> {
  const res = await stack.api(`/v1/devices/${id}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as unknown as DeviceInfo;
}

describe('device management API', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ overrides: { limits: { topicsPerDevice: 3 } } });
  });
  after(async () => {
    await stack.close();
  });

  it('device info shows presence flipping online and offline with an SDK device', async () => {
    const client = new PetrelClient({
      host: '127.0.0.1', port: stack.gateways[0]!.port, appId: stack.app.appId, clientKey: stack.app.clientKey, store: new MemoryStore(),
    });
    const connected = new Promise<string>((resolve) => client.once('connected', ({ deviceId }) => resolve(deviceId)));
    const startedAt = Date.now();
    await client.start();
    const deviceId = await connected;
    await waitFor(async () => (await info(stack, deviceId)).online, 'device online');
    const up = await info(stack, deviceId);
    assert.equal(up.id, deviceId);
    assert.equal(up.status, 'active');
    assert.ok(up.createdAt >= startedAt - 1000 && up.createdAt <= Date.now());
    assert.ok(up.connectedSince !== undefined && up.connectedSince >= up.createdAt && up.connectedSince <= Date.now());
    assert.deepEqual([up.aliases, up.accounts, up.topics], [[], [], []]);
    await client.close();
    await waitFor(async () => !(await info(stack, deviceId)).online, 'device offline');
    assert.equal((await info(stack, deviceId)).connectedSince, undefined);
  });

  it('device info lists at most 100 names of a kind and says which lists were cut', async () => {
    const creds = await registered(stack);
    const names = Array.from({ length: 101 }, (_, i) => `alias-${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((n) => stack.api(`/v1/devices/${creds.deviceId}/aliases/${n}`, { method: 'PUT' })));
    await stack.api(`/v1/devices/${creds.deviceId}/accounts/only-one`, { method: 'PUT' });
    const got = (await stack.api(`/v1/devices/${creds.deviceId}`)).body as unknown as DeviceInfo & { truncated?: string[] };
    assert.equal(got.aliases.length, 100);
    assert.ok(got.aliases.every((a) => names.includes(a)));
    assert.deepEqual(got.aliases, [...got.aliases].sort());
    assert.deepEqual(got.accounts, ['only-one']);
    assert.deepEqual(got.truncated, ['aliases']);
    assert.equal(((await stack.api(`/v1/devices/${creds.deviceId}/aliases`)).body as unknown as { aliases: string[] }).aliases.length, 101);
  });

  it('a route naming a gateway no longer listed live reads as offline', async () => {
    const creds = await registered(stack);
    await stack.rt.redis.set(stack.rt.keys.route(creds.deviceId), `gw-gone s1 ${Date.now()}`);
    assert.equal((await info(stack, creds.deviceId)).online, false);
  });

  it('server-side topics show in device info; the per-device cap and topic names are checked', async () => {
    const creds = await registered(stack);
    const put = (topic: string) => stack.api(`/v1/devices/${creds.deviceId}/topics/${topic}`, { method: 'PUT' });
    for (const t of ['news', 'sport', 'weather']) assert.equal((await put(t)).status, 204);
    assert.equal((await put('news')).status, 204, 'subscribing again is a no-op');
    const over = await put('music');
    assert.equal(over.status, 409);
    assert.equal(over.body.error.code, 'topic_limit');
    const bad = await put('bad%20topic');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'topic_invalid');
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/aliases/alice`, { method: 'PUT' })).status, 204);
    const got = await info(stack, creds.deviceId);
    assert.deepEqual(got.topics, ['news', 'sport', 'weather']);
    assert.deepEqual(got.aliases, ['alice']);
    assert.deepEqual((await stack.api(`/v1/devices/${creds.deviceId}/topics`)).body, { topics: ['news', 'sport', 'weather'] });
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/topics/sport`, { method: 'DELETE' })).status, 204);
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/topics/sport`, { method: 'DELETE' })).status, 204, 'idempotent');
    assert.deepEqual((await info(stack, creds.deviceId)).topics, ['news', 'weather']);
    assert.deepEqual((await stack.api('/v1/topics/news')).body, { topic: 'news', subscribers: 1 });
  });

  it('a device subscribed by its server and by itself shares one cap', async () => {
    const creds = await registered(stack);
    const dev = await online(stack, creds);
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/topics/a`, { method: 'PUT' })).status, 204);
    dev.send({ t: FrameType.SUB, rid: 1, topics: ['b', 'c'] });
    assert.deepEqual(await dev.nextOf(FrameType.SUBACK), { t: FrameType.SUBACK, rid: 1, ok: true });
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/topics/d`, { method: 'PUT' })).body.error.code, 'topic_limit');
    dev.send({ t: FrameType.UNSUB, rid: 2, topics: ['a'] });
    assert.deepEqual(await dev.nextOf(FrameType.SUBACK), { t: FrameType.SUBACK, rid: 2, ok: true });
    assert.deepEqual((await info(stack, creds.deviceId)).topics, ['b', 'c']);
    dev.destroy();
  });

  it('invalidate: the connected session is closed with 4001, a reconnect is refused with 4001, sends say device_unknown, names and topics are gone', async () => {
    const creds = await registered(stack);
    const other = await registered(stack);
    for (const path of ['aliases/bob', 'accounts/user-9', 'topics/news']) {
      assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/${path}`, { method: 'PUT' })).status, 204);
    }
    assert.equal((await stack.api(`/v1/devices/${other.deviceId}/accounts/user-9`, { method: 'PUT' })).status, 204);
    // A message waiting in its inbox: given up (failed), not left for nobody.
    const waiting = await stack.api('/v1/messages', { body: { to: { devices: [creds.deviceId] }, data: 'never' } });
    assert.equal(waiting.status, 202);
    await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.inbox(creds.deviceId))) === 1, 'message in the inbox');
    const newsBefore = (await stack.api('/v1/topics/news')).body as unknown as { subscribers: number };
    const failedStat = async () => ((await stack.api('/v1/stats?granularity=day')).body as unknown as { buckets: Array<{ failed: number }> }).buckets.reduce((n, b) => n + b.failed, 0);
    const failedBefore = await failedStat();

    const dev = await online(stack, creds);
    assert.equal((await dev.nextOf(FrameType.PUSH)).data, 'never');
    await waitFor(async () => (await info(stack, creds.deviceId)).online, 'device online');
    const res = await stack.api(`/v1/devices/${creds.deviceId}/invalidate`, { method: 'POST' });
    assert.equal(res.status, 204);
    assert.equal(await dev.closeCode(3000), CloseCode.AUTH_FAILED);

    const again = await RawDevice.connect(stack.gateways[0]!.port);
    again.send(again.helloFrame(creds));
    assert.equal(await again.closeCode(3000), CloseCode.AUTH_FAILED);

    const send = await stack.api('/v1/messages', { body: { to: { devices: [creds.deviceId] }, data: 'late' } });
    assert.equal(send.status, 400);
    assert.equal(send.body.error.code, 'device_unknown');
    assert.deepEqual(send.body.error.details.devices, [creds.deviceId]);

    const after = await info(stack, creds.deviceId);
    assert.equal(after.status, 'invalid');
    assert.deepEqual([after.aliases, after.accounts, after.topics], [[], [], []]);
    await waitFor(async () => !(await info(stack, creds.deviceId)).online, 'device offline');
    assert.equal(await stack.rt.redis.get(stack.rt.keys.alias(stack.app.appId, 'bob')), null);
    assert.deepEqual(await stack.rt.redis.zrange(stack.rt.keys.account(stack.app.appId, 'user-9'), 0, -1), [other.deviceId]);
    assert.deepEqual((await stack.api('/v1/topics/news')).body, { topic: 'news', subscribers: newsBefore.subscribers - 1 });
    assert.equal(await stack.rt.redis.exists(stack.rt.keys.inbox(creds.deviceId)), 0);
    await waitFor(async () => ((await stack.api(`/v1/messages/${waiting.body.id}`)).body as unknown as { counts: { failed: number } }).counts.failed === 1, 'the waiting message counted failed');
    await waitFor(async () => (await failedStat()) === failedBefore + 1, 'the app\'s failed statistic counts it too');
    const viaAlias = await stack.api('/v1/messages', { body: { to: { aliases: ['bob'] }, data: 'x' } });
    await waitFor(async () => ((await stack.api(`/v1/messages/${viaAlias.body.id}`)).body as unknown as { state: string }).state === 'completed', 'alias send completed');
    assert.equal(((await stack.api(`/v1/messages/${viaAlias.body.id}`)).body as unknown as { counts: { targeted: number } }).counts.targeted, 0);

    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/invalidate`, { method: 'POST' })).status, 204, 'idempotent');
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/topics/news`, { method: 'PUT' })).body.error.code, 'device_not_found');
    again.destroy();
  });

  it('an SDK device told 4001 forgets its credentials and registers anew', async () => {
    const client = new PetrelClient({
      host: '127.0.0.1', port: stack.gateways[0]!.port, appId: stack.app.appId, clientKey: stack.app.clientKey, store: new MemoryStore(),
      backoff: { baseMs: 10, capMs: 50 },
    });
    const first = new Promise<string>((resolve) => client.once('connected', ({ deviceId }) => resolve(deviceId)));
    await client.start();
    const oldId = await first;
    await waitFor(async () => (await info(stack, oldId)).online, 'device online');
    const codes: Array<number | undefined> = [];
    client.on('disconnected', (d) => codes.push(d.code));
    const second = new Promise<string>((resolve) => client.once('connected', ({ deviceId }) => resolve(deviceId)));
    assert.equal((await stack.api(`/v1/devices/${oldId}/invalidate`, { method: 'POST' })).status, 204);
    const newId = await second;
    assert.notEqual(newId, oldId);
    assert.deepEqual(codes, [CloseCode.AUTH_FAILED]);
    await client.close();
  });

  it('another app\'s device answers exactly like a device that does not exist, on every endpoint', async () => {
    const other = await stack.newApp();
    const theirs = await registered(stack, other);
    assert.equal((await stack.api(`/v1/devices/${theirs.deviceId}/topics/news`, { method: 'PUT', secret: other.serverSecret })).status, 204);
    const missing = 'AAAAAAAAAAAAAAAAAAAAAA';
    const calls: Array<[string, string]> = [
      ['GET', ''], ['POST', '/invalidate'], ['PUT', '/topics/news'], ['DELETE', '/topics/news'], ['GET', '/topics'],
    ];
    for (const [method, suffix] of calls) {
      const answers = [];
      for (const id of [theirs.deviceId, missing]) {
        const res = await stack.api(`/v1/devices/${id}${suffix}`, { method });
        answers.push({ status: res.status, body: res.body });
      }
      assert.deepEqual(answers[0], answers[1], `${method} ${suffix}`);
      assert.equal(answers[0]!.status, 404, `${method} ${suffix}`);
      assert.equal(answers[0]!.body.error.code, 'device_not_found');
    }
    // And nothing of theirs changed: still valid, still subscribed.
    const still = await stack.api(`/v1/devices/${theirs.deviceId}`, { secret: other.serverSecret });
    assert.equal((still.body as unknown as DeviceInfo).status, 'active');
    assert.deepEqual((still.body as unknown as DeviceInfo).topics, ['news']);
  });

  it('a malformed device id is a 400 query_invalid naming the field', async () => {
    const res = await stack.api('/v1/devices/not!an!id');
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'query_invalid');
    assert.deepEqual(res.body.error.details.fields.map((f) => f.path), ['deviceId']);
  });
});

describe('device invalidation racing the session\'s ONLINE report', () => {
  let stack: TestStack;
  before(async () => {
    // Reports held 400 ms: the invalidation runs before the dispatch tier knows the session.
    stack = await startTestStack({ overrides: { gateway: { reportIntervalMs: 400 } } });
  });
  after(async () => {
    await stack.close();
  });

  it('a session that authenticated just before the invalidation is closed with 4001 when its ONLINE arrives', async () => {
    const creds = await registered(stack);
    const dev = await online(stack, creds);
    assert.equal(await stack.rt.redis.exists(stack.rt.keys.route(creds.deviceId)), 0, 'no route yet');
    assert.equal((await stack.api(`/v1/devices/${creds.deviceId}/invalidate`, { method: 'POST' })).status, 204);
    assert.equal(await dev.closeCode(3000), CloseCode.AUTH_FAILED);
  });
});
