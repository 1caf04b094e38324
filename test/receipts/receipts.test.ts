import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyReceipt } from '../../src/domain/receipt-signature.js';
import type { DeadLetter } from '../../src/store/receipt-dead-letters.js';
import { FrameType } from '../../src/protocol/index.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { ReceiptReceiver } from '../support/receipt-receiver.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

describe('receipts (delivery events POSTed to a message\'s callbackUrl)', () => {
  let stack: TestStack;
  let receiver: ReceiptReceiver;
  before(async () => {
    stack = await startTestStack({
      overrides: { receipts: { windowMs: 150, backoffMs: 50, attempts: 3, timeoutMs: 1000, allowPrivateAddresses: true }, stats: { flushMs: 20 }, dispatch: { expiryGraceMs: 200 } },
    });
  });
  after(async () => {
    await stack.close();
  });

  async function fresh(): Promise<{ app: TestApp; receiver: ReceiptReceiver }> {
    receiver = await ReceiptReceiver.start();
    return { app: await stack.newApp(), receiver };
  }

  async function device(app: TestApp, connect = true): Promise<{ dev: RawDevice; creds: DeviceCredentials }> {
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    const creds = await dev.register(app.appId, app.clientKey);
    if (connect) await dev.hello(creds);
    else dev.destroy();
    return { dev, creds };
  }

  const send = (app: TestApp, body: unknown) => stack.api('/v1/messages', { body, secret: app.serverSecret });
  const deadLetters = async (app: TestApp) =>
    (await stack.api('/v1/receipts/dead-letters', { secret: app.serverSecret })).body as unknown as { deadLetters: DeadLetter[] };

  it('delivered and opened arrive batched, signed with the app\'s receipt secret; a repeated ACK adds nothing', async () => {
    const { app, receiver } = await fresh();
    const a = await device(app);
    const b = await device(app);
    const res = await send(app, { to: { devices: [a.creds.deviceId, b.creds.deviceId] }, data: 1, callbackUrl: receiver.url });
    assert.equal(res.status, 202);
    const id = res.body.id;
    for (const d of [a, b]) {
      await d.dev.nextOf(FrameType.PUSH);
      d.dev.send({ t: FrameType.ACK, ids: [id] });
      d.dev.send({ t: FrameType.ACK, ids: [id] });
    }
    a.dev.send({ t: FrameType.OPENED, id });
    a.dev.send({ t: FrameType.OPENED, id });
    await waitFor(() => receiver.accepted().length >= 3, 'three receipts');
    await new Promise((r) => setTimeout(r, 400));
    const events = receiver.accepted();
    assert.deepEqual(events.map((e) => `${e.type} ${e.deviceId}`).sort(), [`delivered ${a.creds.deviceId}`, `delivered ${b.creds.deviceId}`, `opened ${a.creds.deviceId}`].sort());
    for (const e of events) {
      assert.equal(e.messageId, id);
      assert.equal(typeof e.at, 'number');
      assert.equal((e as { appId?: string }).appId, undefined);
    }
    assert.ok(receiver.posts.length < events.length, `batched: ${receiver.posts.length} POSTs for ${events.length} events`);
    const { secret } = (await stack.api('/v1/receipts/secret', { secret: app.serverSecret })).body as unknown as { secret: string };
    assert.ok(secret.length >= 32);
    const deliveries = new Set<string>();
    for (const post of receiver.posts) {
      assert.match(String(post.headers['petrel-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.ok(verifyReceipt(secret, post.raw, String(post.headers['petrel-signature'])));
      assert.ok(!verifyReceipt(secret, post.raw + ' ', String(post.headers['petrel-signature'])), 'a changed body fails');
      assert.equal(post.headers['content-type'], 'application/json');
      deliveries.add(String(post.headers['petrel-delivery']));
    }
    assert.equal(deliveries.size, receiver.posts.length);
    const metrics = await stack.rt.metrics.registry.metrics();
    assert.match(metrics, /petrel_delivery_events_total\{type="opened"\} [1-9]/);
    assert.match(metrics, /petrel_receipts_sent_total [1-9]/);
    a.dev.destroy();
    b.dev.destroy();
    await receiver.close();
  });

  it('a receiver failing twice then succeeding gets the same batch (same Petrel-Delivery) a third time', async () => {
    const { app, receiver } = await fresh();
    receiver.answer = (n) => (n < 2 ? 500 : 204);
    const a = await device(app);
    const { body } = await send(app, { to: { devices: [a.creds.deviceId] }, data: 1, callbackUrl: receiver.url });
    await a.dev.nextOf(FrameType.PUSH);
    a.dev.send({ t: FrameType.ACK, ids: [body.id] });
    await waitFor(() => receiver.accepted().length === 1, 'the receipt after two failures');
    assert.deepEqual(receiver.posts.map((p) => p.status), [500, 500, 204]);
    assert.equal(new Set(receiver.posts.map((p) => p.headers['petrel-delivery'])).size, 1);
    assert.equal(new Set(receiver.posts.map((p) => p.raw)).size, 1);
    assert.deepEqual((await deadLetters(app)).deadLetters, []);
    a.dev.destroy();
    await receiver.close();
  });

  it('a receiver that always fails: dead letter visible through the API (not to another app), redrive sends it again', async () => {
    const { app, receiver } = await fresh();
    receiver.answer = () => 503;
    const a = await device(app);
    const { body } = await send(app, { to: { devices: [a.creds.deviceId] }, data: 1, callbackUrl: receiver.url });
    await a.dev.nextOf(FrameType.PUSH);
    a.dev.send({ t: FrameType.ACK, ids: [body.id] });
    await waitFor(async () => (await deadLetters(app)).deadLetters.length === 1, 'a dead letter');
    assert.equal(receiver.posts.length, 3);
    const [letter] = (await deadLetters(app)).deadLetters;
    assert.equal(letter!.url, receiver.url);
    assert.equal(letter!.status, 503);
    assert.equal(letter!.attempts, 3);
    assert.match(letter!.error, /answered 503: nope 503/);
    assert.equal(letter!.delivery, receiver.posts[0]!.headers['petrel-delivery']);
    assert.deepEqual(letter!.events.map((e) => (e as { type: string }).type), ['delivered']);

    const other = await stack.newApp();
    assert.deepEqual((await deadLetters(other)).deadLetters, []);
    const otherRedrive = await stack.api('/v1/receipts/dead-letters/redrive', { method: 'POST', secret: other.serverSecret });
    assert.deepEqual(otherRedrive.body, { redriven: 0 });
    assert.equal((await deadLetters(app)).deadLetters.length, 1);
    assert.equal((await stack.api('/v1/receipts/dead-letters?limit=0', { secret: app.serverSecret })).body.error.code, 'query_invalid');

    receiver.answer = () => 200;
    const redrive = await stack.api('/v1/receipts/dead-letters/redrive', { method: 'POST', secret: app.serverSecret });
    assert.equal(redrive.status, 202);
    assert.deepEqual(redrive.body, { redriven: 1 });
    await waitFor(() => receiver.accepted().length === 1, 'the redriven batch');
    assert.equal(receiver.posts[3]!.headers['petrel-delivery'], letter!.delivery);
    assert.deepEqual((await deadLetters(app)).deadLetters, []);
    a.dev.destroy();
    await receiver.close();
  });

  it('invalid_target for an alias bound to no device', async () => {
    const { app, receiver } = await fresh();
    const { status, body } = await send(app, { to: { aliases: ['nobody-here'] }, data: 1, callbackUrl: receiver.url });
    assert.equal(status, 202);
    await waitFor(() => receiver.accepted().length === 1, 'the invalid_target receipt');
    const [e] = receiver.accepted();
    assert.deepEqual({ ...e, at: 0 }, { type: 'invalid_target', messageId: body.id, alias: 'nobody-here', at: 0 });
    await receiver.close();
  });

  it('expired for a TTL 0 message to an offline device', async () => {
    const { app, receiver } = await fresh();
    const { creds } = await device(app, false);
    const { body } = await send(app, { to: { devices: [creds.deviceId] }, data: 1, ttl: 0, callbackUrl: receiver.url });
    await waitFor(() => receiver.accepted().length === 1, 'the expired receipt');
    const [e] = receiver.accepted();
    assert.deepEqual({ ...e, at: 0 }, { type: 'expired', messageId: body.id, deviceId: creds.deviceId, reason: 'ttl', at: 0 });
    await receiver.close();
  });

  it('expired for a device that never came back, once its TTL passed; delivered for the one that ACKed', async () => {
    const { app, receiver } = await fresh();
    const a = await device(app);
    const { creds: away } = await device(app, false);
    const { body } = await send(app, { to: { devices: [a.creds.deviceId, away.deviceId] }, data: 1, ttl: 1, callbackUrl: receiver.url });
    await a.dev.nextOf(FrameType.PUSH);
    a.dev.send({ t: FrameType.ACK, ids: [body.id] });
    // An inbox expires with its longest-lived entry, before the sweep's grace is over.
    await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.inbox(away.deviceId))) === 1, 'the inbox entry');
    await stack.rt.redis.del(stack.rt.keys.inbox(away.deviceId));
    await waitFor(() => receiver.accepted().length === 2, 'delivered and expired receipts', 5000);
    const events = receiver.accepted().map((e) => ({ ...e, at: 0 }));
    assert.deepEqual(events, [
      { type: 'delivered', messageId: body.id, deviceId: a.creds.deviceId, at: 0 },
      { type: 'expired', messageId: body.id, deviceId: away.deviceId, reason: 'ttl', at: 0 },
    ]);
    // Coming back later finds nothing to replay and counts nothing again.
    const back = await RawDevice.connect(stack.gateways[0]!.port);
    await back.hello(away);
    await assert.rejects(back.nextOf(FrameType.PUSH, 300), /timed out/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.accepted().length, 2);
    const trace = (await stack.api(`/v1/messages/${body.id}`, { secret: app.serverSecret })).body as unknown as { state: string; counts: { expired: number } };
    assert.equal(trace.state, 'expired');
    assert.equal(trace.counts.expired, 1);
    back.destroy();
    a.dev.destroy();
    await receiver.close();
  });

  it('callbackUrl must be an http(s) URL of at most 2048 characters', async () => {
    const { app } = await fresh();
    const { creds } = await device(app, false);
    for (const callbackUrl of ['ftp://example.com/x', 'not a url', `https://example.com/${'a'.repeat(2048)}`, 'https://user:pw@example.com/', 42]) {
      const res = await send(app, { to: { devices: [creds.deviceId] }, callbackUrl });
      assert.equal(res.status, 400, String(callbackUrl));
      assert.equal(res.body.error.code, 'body_invalid');
      assert.equal(res.body.error.details.fields[0]!.path, 'callbackUrl');
    }
    await receiver.close();
  });
});
