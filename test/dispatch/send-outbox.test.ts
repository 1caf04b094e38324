import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expiryOf, newMessageId } from '../../src/domain/message.js';
import { FrameType, WireCodec, type PushFrame } from '../../src/protocol/index.js';
import { MessageStore } from '../../src/store/message-store.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { RawDevice } from '../support/raw-device.js';
import { startTestStack, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

describe('send outbox: a stored message whose job was never queued is sent anyway', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ overrides: { dispatch: { outboxStaleMs: 300 } } });
  });
  after(async () => {
    await stack.close();
  });

  it('re-queues it (as when the API died right after storing it) and leaves no outbox entry', async () => {
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    const creds = await dev.register(stack.app.appId, stack.app.clientKey);
    await dev.hello(creds);
    // What the intake writes, without the queue write that would follow it.
    const messages = new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000);
    const now = Date.now();
    const id = newMessageId(now);
    const exp = expiryOf(now, 60);
    const frame = new WireCodec(stack.rt.config.codec).encode({ t: FrameType.PUSH, id, ts: now, exp, data: 'orphan' });
    await messages.create([{ id, appId: stack.app.appId, target: { kind: 'devices', ids: [creds.deviceId] }, ts: now, exp, frame, accepted: 1 }]);

    const push = (await dev.nextOf(FrameType.PUSH, 5000)) as PushFrame;
    assert.equal(push.id, id);
    assert.equal(push.data, 'orphan');
    await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.sendOutbox())) === 0, 'outbox emptied');
    dev.send({ t: FrameType.ACK, ids: [id] });
    dev.destroy();
  });

  it('re-queues a message whose fan-out stopped before its PUSH (a local dispatch that died mid-way)', async () => {
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    const creds = await dev.register(stack.app.appId, stack.app.clientKey);
    await dev.hello(creds);
    const messages = new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000);
    const now = Date.now();
    const id = newMessageId(now);
    const exp = expiryOf(now, 60);
    const frame = new WireCodec(stack.rt.config.codec).encode({ t: FrameType.PUSH, id, ts: now, exp, data: 'half-done' });
    await messages.create([{ id, appId: stack.app.appId, target: { kind: 'devices', ids: [creds.deviceId] }, ts: now, exp, frame, accepted: 1 }]);
    // The fan-out record was written (state dispatched), then the process died.
    await stack.rt.redis.hset(stack.rt.keys.message(id), 'state', 'dispatched');

    const push = (await dev.nextOf(FrameType.PUSH, 5000)) as PushFrame;
    assert.equal(push.id, id);
    await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.sendOutbox())) === 0, 'outbox emptied');
    dev.send({ t: FrameType.ACK, ids: [id] });
    dev.destroy();
  });

  it('a normal send leaves the outbox at once, long before the outbox poll would', async () => {
    const res = await stack.api('/v1/messages', { body: { to: { aliases: ['nobody'] } } });
    assert.equal(res.status, 202);
    // The 202 comes once the message is stored; the job (or the local fan-out) follows.
    await waitFor(async () => (await stack.rt.redis.zscore(stack.rt.keys.sendOutbox(), res.body.id)) === null, 'out of the outbox', 1000);
  });
});
