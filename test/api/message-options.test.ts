import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { FrameType, type PushFrame } from '../../src/protocol/index.js';
import type { MessageTrace } from '../../src/store/message-store.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { startTestStack, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

describe('message options: collapseId, sendAt (and cancel), priority', { timeout: 60_000 }, () => {
  let stack: TestStack;
  const send = async (body: Record<string, unknown>) => (await stack.api('/v1/messages', { body })).body;
  const trace = async (id: string) => (await stack.api(`/v1/messages/${id}`)).body as unknown as MessageTrace;
  async function device(): Promise<{ dev: RawDevice; creds: DeviceCredentials }> {
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    return { dev, creds: await dev.register(stack.app.appId, stack.app.clientKey) };
  }
  async function online(creds: DeviceCredentials): Promise<RawDevice> {
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    await dev.hello(creds);
    return dev;
  }

  /** The stack's send queue, on a connection of its own that is closed after (BullMQ leaves a given connection open). */
  async function withSendQueue<T>(use: (queue: Queue) => Promise<T>): Promise<T> {
    const connection = stack.rt.redis.duplicate();
    const queue = new Queue('send', { connection, prefix: stack.rt.keys.queuePrefix() });
    try {
      return await use(queue);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }

  before(async () => {
    // Through send jobs, as a deployment with the API apart from its dispatchers sends:
    // the priority test needs a backlog in the queue, which a process fanning out its
    // own messages (local-dispatch.ts, the default of the other suites) never builds.
    stack = await startTestStack({ overrides: { dispatch: { local: false } } });
  });
  after(async () => {
    await stack.close();
  });

  it('a newer message with the same collapseId replaces the pending older one; other ids are untouched', async () => {
    const { dev, creds } = await device();
    dev.destroy();
    const to = { devices: [creds.deviceId] };
    const score1 = await send({ to, data: 'score 1-0', collapseId: 'match-7' });
    const other = await send({ to, data: 'unrelated' });
    const score2 = await send({ to, data: 'score 2-0', collapseId: 'match-7' });
    await waitFor(async () => (await trace(score2.id)).state === 'dispatched' && (await trace(score1.id)).counts.dropped === 1, 'collapsed');
    assert.equal((await trace(score1.id)).devices?.[creds.deviceId], 'dropped');
    const back = await online(creds);
    const got = [(await back.nextOf(FrameType.PUSH)) as PushFrame, (await back.nextOf(FrameType.PUSH)) as PushFrame];
    assert.deepEqual(got.map((p) => p.data), ['unrelated', 'score 2-0']);
    await assert.rejects(back.nextOf(FrameType.PUSH, 300));
    back.send({ t: FrameType.ACK, ids: got.map((p) => p.id) });
    await waitFor(async () => (await trace(score2.id)).state === 'completed', 'acked');
    assert.equal((await trace(other.id)).counts.delivered, 1);
    back.destroy();
  });

  it('two messages with one collapseId in the same send job: only the newer is pushed', async () => {
    const { dev, creds } = await device();
    await dev.hello(creds);
    const to = { devices: [creds.deviceId] };
    const res = await stack.api('/v1/messages/batch', { body: { messages: [{ to, data: 'old', collapseId: 'c' }, { to, data: 'new', collapseId: 'c' }] } });
    const [older, newer] = (res.body as unknown as { results: Array<{ id: string }> }).results;
    const push = (await dev.nextOf(FrameType.PUSH)) as PushFrame;
    assert.equal(push.id, newer!.id);
    await assert.rejects(dev.nextOf(FrameType.PUSH, 400), 'the replaced one is not pushed');
    assert.equal((await trace(older!.id)).devices?.[creds.deviceId], 'dropped');
    dev.send({ t: FrameType.ACK, ids: [push.id] });
    dev.destroy();
  });

  it('sendAt holds a message until its time; the trace says scheduled, then it is delivered', async () => {
    const { dev, creds } = await device();
    await dev.hello(creds);
    const at = Date.now() + 1200;
    const res = await send({ to: { devices: [creds.deviceId] }, data: 'later', sendAt: new Date(at).toISOString(), ttl: 60 });
    const t = await trace(res.id);
    assert.equal(t.state, 'scheduled');
    assert.equal(t.sendAt, at);
    assert.equal(t.expiresAt, at + 60_000, 'the TTL counts from the send time');
    await assert.rejects(dev.nextOf(FrameType.PUSH, 600), 'not before its time');
    const push = (await dev.nextOf(FrameType.PUSH, 3000)) as PushFrame;
    assert.equal(push.id, res.id);
    assert.ok(Date.now() >= at - 5);
    dev.destroy();
  });

  it('a scheduled message can be cancelled before its time, and not after', async () => {
    const { dev, creds } = await device();
    await dev.hello(creds);
    const res = await send({ to: { devices: [creds.deviceId] }, data: 'never', sendAt: Date.now() + 2500 });
    const cancel = await stack.api(`/v1/messages/${res.id}`, { method: 'DELETE' });
    assert.equal(cancel.status, 200);
    assert.equal((await stack.api(`/v1/messages/${res.id}`, { method: 'DELETE' })).status, 200, 'idempotent');
    assert.equal((await trace(res.id)).state, 'cancelled');
    await assert.rejects(dev.nextOf(FrameType.PUSH, 3500), 'a cancelled message is never sent');
    // Even if a send job for it runs anyway (a job removal that came too late), the
    // message itself says cancelled and the dispatcher leaves it out.
    await withSendQueue((queue) => queue.add('send', { ids: [res.id] }));
    await assert.rejects(dev.nextOf(FrameType.PUSH, 1000), 'a job of a cancelled message sends nothing');

    const now = await send({ to: { devices: [creds.deviceId] }, data: 'now' });
    dev.send({ t: FrameType.ACK, ids: [(await dev.nextOf(FrameType.PUSH)).id] });
    const late = await stack.api(`/v1/messages/${now.id}`, { method: 'DELETE' });
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'message_not_cancellable');
    const theirs = await stack.newApp();
    assert.equal((await stack.api(`/v1/messages/${res.id}`, { method: 'DELETE', secret: theirs.serverSecret })).body.error.code, 'message_not_found');
    dev.destroy();
  });

  it('refuses a sendAt in the past or too far ahead, and malformed options', async () => {
    const to = { aliases: ['x'] };
    assert.equal((await send({ to, sendAt: Date.now() - 3_600_000 })).error.code, 'send_at_invalid');
    assert.equal((await send({ to, sendAt: Date.now() + 8 * 86_400_000 })).error.code, 'send_at_invalid');
    const bad = await send({ to, sendAt: 'tomorrow', priority: 'urgent', collapseId: 'has space' });
    assert.deepEqual(bad.error.details.fields.map((f: { path: string }) => f.path).sort(), ['collapseId', 'priority', 'sendAt']);
    assert.ok((await send({ to, sendAt: Date.now() - 5_000 })).id, 'a little skew sends at once');
  });

  it('a high-priority send is dispatched ahead of a backlog of normal ones', async () => {
    const { dev, creds } = await device();
    await dev.hello(creds);
    // Pause the workers so a backlog builds up, then let it drain.
    try {
      await withSendQueue(async (queue) => {
        await queue.pause();
        try {
          const to = { devices: [creds.deviceId] };
          for (let i = 0; i < 5; i++) await send({ to, data: `normal ${i}` });
          const urgent = await send({ to, data: 'urgent', priority: 'high' });
          await queue.resume();
          const first = (await dev.nextOf(FrameType.PUSH, 5000)) as PushFrame;
          assert.equal(first.data, 'urgent');
          assert.equal(first.id, urgent.id);
        } finally {
          await queue.resume();
        }
      });
    } finally {
      dev.destroy();
    }
  });
});
