import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expiryOf, newMessageId } from '../../src/domain/message.js';
import { FrameType, WireCodec, type PushFrame } from '../../src/protocol/index.js';
import { MessageStore, type NewMessage } from '../../src/store/message-store.js';
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

  /**
   * A connected device and a message to it stored as the intake stores it, without the
   * queue write (or local fan-out) that would follow.
   */
  async function storeOrphan(data: string): Promise<{ dev: RawDevice; id: string; messages: MessageStore; message: NewMessage }> {
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    const creds = await dev.register(stack.app.appId, stack.app.clientKey);
    await dev.hello(creds);
    const messages = new MessageStore(stack.rt.redis, stack.rt.keys, new TurnPipeline(stack.rt.redis), 60_000);
    const now = Date.now();
    const id = newMessageId(now);
    const exp = expiryOf(now, 60);
    const frame = new WireCodec(stack.rt.config.codec).encode({ t: FrameType.PUSH, id, ts: now, exp, data });
    const message: NewMessage = { id, appId: stack.app.appId, target: { kind: 'devices', ids: [creds.deviceId] }, ts: now, exp, frame, accepted: 1 };
    await messages.create([message]);
    return { dev, id, messages, message };
  }

  /** What a fan-out's record does (state dispatched, the hash made from the intake entry), with no inbox write or PUSH. */
  const recordFanOut = (messages: MessageStore, message: NewMessage) =>
    messages.dispatched([{ message, counts: { targeted: 1, failed: 0, dropped: 0 }, initial: null }]);

  /** `afterStore` plays what else happened before the process died; the outbox poll must bring the message to the device. */
  async function orphanReachesDevice(data: string, afterStore: (messages: MessageStore, message: NewMessage) => Promise<unknown> = async () => undefined): Promise<void> {
    const { dev, id, messages, message } = await storeOrphan(data);
    await afterStore(messages, message);
    const push = (await dev.nextOf(FrameType.PUSH, 5000)) as PushFrame;
    assert.equal(push.id, id);
    assert.equal(push.data, data);
    await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.sendOutbox())) === 0, 'outbox emptied');
    dev.send({ t: FrameType.ACK, ids: [id] });
    dev.destroy();
  }

  it('re-queues it (as when the API died right after storing it) and leaves no outbox entry', async () => {
    await orphanReachesDevice('orphan');
  });

  it('re-queues a message whose fan-out stopped before its PUSH (a local dispatch that died mid-way)', async () => {
    // The fan-out record was written (state dispatched), then the process died.
    await orphanReachesDevice('half-done', async (messages, message) => {
      await recordFanOut(messages, message);
      assert.equal(await stack.rt.redis.hget(stack.rt.keys.message(message.id), 'state'), 'dispatched', 'the record made the hash');
    });
  });

  it('only removes the entry of a message whose fan-out was complete (marked pushed): no second PUSH', async () => {
    const { dev, id, messages, message } = await storeOrphan('done');
    // Fanned out, PUSHed and ACKed; only the outbox removal failed.
    await recordFanOut(messages, message);
    await messages.pushed([id]);

    await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.sendOutbox())) === 0, 'outbox emptied');
    await assert.rejects(dev.nextOf(FrameType.PUSH, 500), 'no PUSH of a message whose fan-out was done');
    dev.destroy();
  });

  it('a normal send leaves the outbox at once, long before the outbox poll would', async () => {
    const res = await stack.api('/v1/messages', { body: { to: { aliases: ['nobody'] } } });
    assert.equal(res.status, 202);
    // The 202 comes once the message is stored; the job (or the local fan-out) follows.
    await waitFor(async () => (await stack.rt.redis.zscore(stack.rt.keys.sendOutbox(), res.body.id)) === null, 'out of the outbox', 1000);
  });
});
