import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType, MIN_NONCE_LENGTH, signHello } from '../../src/protocol/index.js';
import { MemoryStore, type PushMessage } from '../../sdk-client/src/index.js';
import { collect, makeClient, next, sleep, SlowStore, useFakeGateway } from './client-fixture.js';

describe('PetrelClient: registration, HELLO and delivery', () => {
  const fake = useFakeGateway();

  it('registers, saves credentials before HELLO, and sends a verifiable HELLO', async () => {
    const store = new SlowStore(20);
    const client = makeClient(fake.gw, { store, heartbeatSec: 120, sdkVersion: 'test-sdk/1' });
    let durableAtHello: unknown = 'unset';
    fake.gw.hook = (_conn, frame) => {
      if (frame.t === FrameType.HELLO) durableAtHello = store.durable?.dev;
    };
    const registered = next(client, 'registered');
    const connected = next(client, 'connected');
    await client.start();

    const { frame: register } = await fake.gw.waitForFrame(FrameType.REGISTER);
    assert.deepEqual(register, { t: FrameType.REGISTER, app: 'app-test', key: 'ck-test', pkg: 'com.example.test' });
    const { deviceId } = await registered;
    const welcome = await connected;
    assert.deepEqual(welcome, { sid: 's0', hb: 240, deviceId });
    assert.equal(client.deviceId, deviceId);
    assert.equal(client.status, 'connected');

    const { conn, frame: hello } = await fake.gw.waitForFrame(FrameType.HELLO);
    assert.equal(conn.index, 0, 'REGISTER and HELLO share one connection');
    assert.equal(durableAtHello, deviceId, 'credentials were durable before HELLO was sent');
    assert.equal(hello.v, 1);
    assert.equal(hello.app, 'app-test');
    assert.equal(hello.dev, deviceId);
    assert.equal(hello.hb, 120);
    assert.equal(hello.sdk, 'test-sdk/1');
    assert.equal(hello.cur, undefined, 'no cursors yet: field omitted');
    assert.ok(hello.nonce.length >= MIN_NONCE_LENGTH && /^[A-Za-z0-9_-]+$/.test(hello.nonce));
    assert.ok(Math.abs(hello.ts - Date.now()) < 60_000);
    assert.equal(hello.sig, signHello(fake.gw.devices.get(deviceId)!, 'app-test', deviceId, hello.ts, hello.nonce));
    assert.deepEqual(await store.load(), { appId: 'app-test', dev: deviceId, secret: fake.gw.devices.get(deviceId), cursors: {}, seen: [] });
  });

  it('emits notification / message events and batches the ACK', async () => {
    const client = makeClient(fake.gw, { ackDelayMs: 30 });
    const notifications = collect(client, 'notification');
    const messages = collect(client, 'message');
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    const now = Date.now();
    conn.send({ t: FrameType.PUSH, id: 'm1', ts: now, exp: now + 60_000, n: { title: 'Hi', body: 'there', badge: 3 }, cid: 'camp-1' });
    conn.send({ t: FrameType.PUSH, id: 'm2', ts: now, exp: now + 60_000, data: { order: 42, tags: ['a'] } });
    conn.send({ t: FrameType.PUSH, id: 'm3', ts: now, exp: now + 60_000, data: 'x', log: 'topic:news', seq: 9 });

    const { frame: ack } = await fake.gw.waitForFrame(FrameType.ACK);
    assert.deepEqual(ack.ids, ['m1', 'm2', 'm3'], 'one ACK frame for the burst');
    assert.deepEqual(notifications, [
      { id: 'm1', acceptedAt: now, expiresAt: now + 60_000, notification: { title: 'Hi', body: 'there', badge: 3 }, campaignId: 'camp-1' },
    ] satisfies PushMessage[]);
    assert.deepEqual(messages, [
      { id: 'm2', acceptedAt: now, expiresAt: now + 60_000, data: { order: 42, tags: ['a'] } },
      { id: 'm3', acceptedAt: now, expiresAt: now + 60_000, data: 'x', log: 'topic:news', seq: 9 },
    ] satisfies PushMessage[]);
  });

  it('flushes an ACK as soon as ackMaxBatch ids are queued', async () => {
    const client = makeClient(fake.gw, { ackDelayMs: 60_000, ackMaxBatch: 2 });
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    for (const id of ['a', 'b', 'c', 'd']) conn.send({ t: FrameType.PUSH, id, ts: 1, exp: Date.now() + 60_000 });
    await fake.gw.waitForFrame(FrameType.ACK, 2);
    assert.deepEqual(fake.gw.framesOf(FrameType.ACK).map((a) => a.ids), [['a', 'b'], ['c', 'd']]);
  });

  it('does not emit a duplicate PUSH but still ACKs it, also across a restart', async () => {
    const store = new MemoryStore();
    const client = makeClient(fake.gw, { store });
    const messages = collect(client, 'message');
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    const push = { t: FrameType.PUSH, id: 'dup-1', ts: 1, exp: Date.now() + 60_000, data: 1 } as const;
    conn.send(push);
    await fake.gw.waitForFrame(FrameType.ACK, 1);
    conn.send(push);
    await fake.gw.waitForFrame(FrameType.ACK, 2);
    assert.equal(messages.length, 1);
    assert.deepEqual(fake.gw.framesOf(FrameType.ACK).map((a) => a.ids), [['dup-1'], ['dup-1']]);
    await client.close();

    // A new process with the same store: the id is remembered.
    const again = makeClient(fake.gw, { store });
    const againMessages = collect(again, 'message');
    await again.start();
    await next(again, 'connected');
    fake.gw.connections[1]!.send(push);
    await fake.gw.waitForFrame(FrameType.ACK, 3);
    assert.equal(againMessages.length, 0);
  });

  it('ACKs only ids a completed save recorded as seen', async () => {
    const store = new SlowStore(25);
    const client = makeClient(fake.gw, { store, ackDelayMs: 1, ackMaxBatch: 3 });
    const violations: string[] = [];
    fake.gw.hook = (_conn, frame) => {
      if (frame.t !== FrameType.ACK) return;
      const durable = new Set(store.durable?.seen ?? []);
      for (const id of frame.ids) if (!durable.has(id)) violations.push(id);
    };
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    for (let i = 0; i < 10; i++) conn.send({ t: FrameType.PUSH, id: `p${i}`, ts: 1, exp: Date.now() + 60_000 });
    while (fake.gw.framesOf(FrameType.ACK).flatMap((a) => a.ids).length < 10) await sleep(5);
    assert.deepEqual(violations, []);
  });

  it('keeps the highest seq per log and sends it back in HELLO cur', async () => {
    const store = new MemoryStore();
    const client = makeClient(fake.gw, { store });
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    const exp = Date.now() + 60_000;
    conn.send({ t: FrameType.PUSH, id: 'l1', ts: 1, exp, log: 'news', seq: 5 });
    conn.send({ t: FrameType.PUSH, id: 'l2', ts: 1, exp, log: 'news', seq: 3 });
    conn.send({ t: FrameType.PUSH, id: 'l3', ts: 1, exp, log: 'sport', seq: 11 });
    await fake.gw.waitForFrame(FrameType.ACK);
    await client.close();

    const again = makeClient(fake.gw, { store });
    await again.start();
    await next(again, 'connected');
    const { frame: hello } = await fake.gw.waitForFrame(FrameType.HELLO, 2);
    assert.deepEqual(hello.cur, { news: 5, sport: 11 });
    assert.equal(fake.gw.framesOf(FrameType.REGISTER).length, 1, 'stored credentials reused');
  });

  it('ignores frame types it does not know', async () => {
    const client = makeClient(fake.gw);
    const disconnects = collect(client, 'disconnected');
    const errors = collect(client, 'error');
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    conn.send({ t: 40, future: 'field', nested: { x: 1 } });
    conn.send({ t: FrameType.PUSH, id: 'after-unknown', ts: 1, exp: Date.now() + 60_000, data: true });
    const message = await next(client, 'message');
    assert.equal(message.id, 'after-unknown');
    assert.deepEqual(disconnects, []);
    assert.deepEqual(errors, []);
  });

  it('emits resync and sends OPENED', async () => {
    const client = makeClient(fake.gw);
    await client.start();
    await next(client, 'connected');
    fake.gw.connections[0]!.send({ t: FrameType.RESYNC, reason: 'inbox_overflow' });
    assert.deepEqual(await next(client, 'resync'), { reason: 'inbox_overflow' });
    client.opened('m-opened');
    const { frame } = await fake.gw.waitForFrame(FrameType.OPENED);
    assert.equal(frame.id, 'm-opened');
  });

  it('keeps OPENED made while offline for the next connection', async () => {
    const client = makeClient(fake.gw);
    client.opened('early-open');
    await client.start();
    const { frame } = await fake.gw.waitForFrame(FrameType.OPENED);
    assert.equal(frame.id, 'early-open');
  });

  it('close() persists and ACKs pending ids, then sends BYE 1000, and does not reconnect', async () => {
    const store = new SlowStore(10);
    const client = makeClient(fake.gw, { store, ackDelayMs: 60_000 });
    await client.start();
    await next(client, 'connected');
    const conn = fake.gw.connections[0]!;
    conn.send({ t: FrameType.PUSH, id: 'last', ts: 1, exp: Date.now() + 60_000 });
    await next(client, 'message');
    const disconnected = next(client, 'disconnected');
    await client.close();
    assert.equal(client.status, 'closed');
    const tail = conn.frames.slice(-2);
    assert.deepEqual(tail, [
      { t: FrameType.ACK, ids: ['last'] },
      { t: FrameType.BYE, code: 1000 },
    ]);
    assert.deepEqual(store.durable?.seen, ['last']);
    assert.equal((await disconnected).willReconnect, false);
    await sleep(50);
    assert.equal(fake.gw.connections.length, 1);
    await client.close(); // idempotent
  });
});
