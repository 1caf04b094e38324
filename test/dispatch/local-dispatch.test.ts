import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { LocalDispatch } from '../../src/dispatch/local-dispatch.js';
import type { MessageDispatcher } from '../../src/dispatch/message-dispatcher.js';
import type { SendJob } from '../../src/dispatch/send-queue.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { FrameType, type PushFrame } from '../../src/protocol/index.js';
import type { MessageStore, NewMessage } from '../../src/store/message-store.js';
import { RawDevice } from '../support/raw-device.js';
import { startTestStack, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

async function counterValue(stack: TestStack, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await stack.rt.metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Send jobs this stack's dispatcher has run. */
async function jobsRun(stack: TestStack): Promise<number> {
  const histogram = await stack.rt.metrics.registry.getSingleMetric('petrel_dispatch_send_job_duration_seconds')?.get();
  return (histogram?.values as Array<{ metricName?: string; value: number }> | undefined)?.find((v) => v.metricName === 'petrel_dispatch_send_job_duration_seconds_count')?.value ?? 0;
}

describe('local dispatch: a process with a dispatcher fans out what its API accepts, without a send job', () => {
  for (const local of [true, false]) {
    describe(`dispatch.local ${local}`, () => {
      let stack: TestStack;
      before(async () => {
        stack = await startTestStack({ overrides: { dispatch: { local } } });
      });
      after(async () => {
        await stack.close();
      });

      it(local ? 'delivers an immediate send with no send job run' : 'delivers it through a send job', async () => {
        const dev = await RawDevice.connect(stack.gateways[0]!.port);
        const creds = await dev.register(stack.app.appId, stack.app.clientKey);
        await dev.hello(creds);
        const jobsBefore = await jobsRun(stack);
        const res = await stack.api('/v1/messages', { body: { to: { devices: [creds.deviceId] }, data: { n: 1 } } });
        assert.equal(res.status, 202);
        const push = (await dev.nextOf(FrameType.PUSH, 5000)) as PushFrame;
        assert.equal(push.id, res.body.id);
        dev.send({ t: FrameType.ACK, ids: [push.id] });
        await waitFor(async () => ((await stack.api(`/v1/messages/${push.id}`, { method: 'GET' })).body as unknown as { counts: { delivered: number } }).counts.delivered === 1, 'delivered counted');
        await waitFor(async () => (await stack.rt.redis.zcard(stack.rt.keys.sendOutbox())) === 0, 'outbox emptied', 1000);
        assert.equal(await counterValue(stack, 'petrel_dispatch_local_messages_total', { outcome: 'dispatched' }), local ? 1 : 0);
        assert.equal(await jobsRun(stack) - jobsBefore, local ? 0 : 1);
        dev.destroy();
      });

      it('still sends a scheduled message through its delayed job', async () => {
        const dev = await RawDevice.connect(stack.gateways[0]!.port);
        const creds = await dev.register(stack.app.appId, stack.app.clientKey);
        await dev.hello(creds);
        const localBefore = await counterValue(stack, 'petrel_dispatch_local_messages_total', { outcome: 'dispatched' });
        const jobsBefore = await jobsRun(stack);
        const res = await stack.api('/v1/messages', { body: { to: { devices: [creds.deviceId] }, data: 'later', sendAt: Date.now() + 300 } });
        assert.equal(res.status, 202);
        const push = (await dev.nextOf(FrameType.PUSH, 5000)) as PushFrame;
        assert.equal(push.id, res.body.id);
        assert.equal(await counterValue(stack, 'petrel_dispatch_local_messages_total', { outcome: 'dispatched' }), localBefore);
        await waitFor(async () => (await jobsRun(stack)) === jobsBefore + 1, 'its send job counted');
        dev.destroy();
      });
    });
  }
});

/** What LocalDispatch decides, with its collaborators recorded (the Redis side is covered above). */
describe('local dispatch: what it takes, and what becomes a send job', () => {
  const message = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({
    id, appId: 'a', target: { kind: 'devices', ids: ['d'] }, ts: 0, exp: 1, frame: Buffer.alloc(0), accepted: 1, ...extra,
  });
  function harness(fanOut: (ids: string[]) => Promise<void>, maxInFlight = 2, outboxFails = false) {
    const jobs: string[][] = [];
    const outOfOutbox: string[] = [];
    const marked: string[] = [];
    const dispatcher = {
      dispatchUnicast: (ms: NewMessage[]) => fanOut(ms.map((m) => m.id)),
      markPushed: async (ids: string[]) => { marked.push(...ids); },
    } as unknown as MessageDispatcher;
    const store = {
      queued: async (ids: string[]) => {
        if (outboxFails) throw new Error('redis gone');
        outOfOutbox.push(...ids);
      },
    } as unknown as MessageStore;
    const queue = { addBulk: async (js: Array<{ data: SendJob }>) => { jobs.push(...js.map((j) => j.data.ids)); return []; } } as unknown as Queue<SendJob>;
    const local = new LocalDispatch(dispatcher, store, queue, maxInFlight, createMetrics(undefined, { defaults: false }), createLogger({ level: 'silent' }));
    return { local, jobs, outOfOutbox, marked };
  }

  it('leaves scheduled messages and broadcasts to send jobs', () => {
    const { local } = harness(async () => undefined);
    const rest = local.take([message('m1'), message('m2', { sendAt: Date.now() + 1000 }), message('m3', { target: { kind: 'topic', topic: 't' } as never })]);
    assert.deepEqual(rest.map((m) => m.id), ['m2', 'm3']);
  });

  it('takes them out of the outbox once fanned out; a failed fan-out becomes a send job', async () => {
    const ok = harness(async () => undefined);
    assert.deepEqual(ok.local.take([message('m1')]), []);
    await ok.local.close();
    assert.deepEqual(ok.outOfOutbox, ['m1']);
    assert.deepEqual(ok.jobs, []);

    const failing = harness(async () => { throw new Error('redis gone'); });
    failing.local.take([message('m2'), message('m3')]);
    await failing.local.close();
    assert.deepEqual(failing.jobs, [['m2', 'm3']]);
    assert.deepEqual(failing.outOfOutbox, ['m2', 'm3']);
  });

  it('marks a complete fan-out pushed only when its outbox entries could not be removed', async () => {
    const removed = harness(async () => undefined);
    removed.local.take([message('m1')]);
    await removed.local.close();
    assert.deepEqual(removed.marked, [], 'entries gone: no mark needed');

    const stuck = harness(async () => undefined, 2, true);
    stuck.local.take([message('m2')]);
    await stuck.local.close();
    assert.deepEqual(stuck.marked, ['m2'], 'entries left: the outbox poll must only remove them');

    const failed = harness(async () => { throw new Error('gateway gone'); }, 2, true);
    failed.local.take([message('m3')]);
    await failed.local.close();
    assert.deepEqual(failed.jobs, [['m3']]);
    assert.deepEqual(failed.marked, [], 'not fanned out: its send job marks it once it has run');
  });

  it('beyond maxInFlight fan-outs, or once closed, hands everything back', async () => {
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const { local } = harness(() => held, 2);
    assert.deepEqual(local.take([message('m1')]), []);
    assert.deepEqual(local.take([message('m2')]), []);
    assert.deepEqual(local.take([message('m3')]).map((m) => m.id), ['m3']);
    const closing = local.close();
    assert.deepEqual(local.take([message('m4')]).map((m) => m.id), ['m4']);
    release();
    await closing;
  });
});
