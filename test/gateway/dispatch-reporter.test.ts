import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PetrelError } from '../../src/domain/errors.js';
import { DispatchReporter, type DispatchLink } from '../../src/gateway/dispatch-reporter.js';
import type { Session } from '../../src/gateway/session-hooks.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { ReportBatch, ReportOutcome } from '../../src/rpc/contract.js';
import { waitFor } from '../support/wait.js';

const session = (n: number): Session => ({ deviceId: `dev${n}`, appId: 'app', sessionId: `s${n}`, cursors: undefined, deviceNo: -1, topicsVersion: 0 });

/** A dispatch link whose answers the test decides. */
class FakeLink implements DispatchLink {
  batches: ReportBatch[] = [];
  failNext = 0;
  async report(batch: ReportBatch): Promise<ReportOutcome> {
    this.batches.push(structuredClone(batch));
    if (this.failNext > 0) {
      this.failNext--;
      throw new PetrelError('rpc_unavailable');
    }
    return { subscriptions: batch.subscriptions.map((s) => ({ ref: s.ref, error: s.topics.includes('bad') ? 'topic_invalid' : '' })) };
  }
}

function reporter(link: DispatchLink, backlog = 1000, maxEntries = 5000) {
  return new DispatchReporter(link, { gatewayId: 'gw1', intervalMs: 5, backlog, maxEntries }, createMetrics(undefined, { defaults: false }), createLogger({ level: 'silent' }));
}

describe('DispatchReporter (gateway → dispatch reports)', () => {
  it('gathers what happens within the interval into one report, ACKs merged per device', async () => {
    const link = new FakeLink();
    const r = reporter(link);
    r.sessionOpened(session(1));
    r.acked(session(1), ['a', 'b']);
    r.acked(session(1), ['c']);
    r.opened(session(1), 'a');
    r.sessionClosed(session(1), 4009);
    await waitFor(() => link.batches.length === 1, 'one report');
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(link.batches.length, 1);
    const [b] = link.batches;
    assert.deepEqual(b!.sessions.map((s) => s.kind), ['online', 'offline']);
    assert.deepEqual(b!.acks, [{ deviceId: 'dev1', appId: 'app', ids: ['a', 'b', 'c'] }]);
    assert.deepEqual(b!.opened, [{ deviceId: 'dev1', appId: 'app', messageId: 'a' }]);
    await r.close();
  });

  it('SUB answers come back per request; a failed report fails its SUBs but is retried, in order', async () => {
    const link = new FakeLink();
    const r = reporter(link);
    assert.equal(await r.subscribe(session(1), ['news'], true), undefined);
    await assert.rejects(r.subscribe(session(1), ['bad'], true), (e: PetrelError) => e.code === 'topic_invalid');
    link.failNext = 1;
    r.sessionOpened(session(2));
    const sub = r.subscribe(session(2), ['news'], true);
    await assert.rejects(sub, (e: PetrelError) => e.code === 'rpc_unavailable');
    r.sessionClosed(session(2), 1000);
    await waitFor(() => link.batches.length >= 4, 'retried report');
    const retried = link.batches.at(-1)!;
    assert.deepEqual(retried.sessions.map((s) => `${s.kind}:${s.deviceId}`), ['online:dev2', 'offline:dev2']);
    assert.equal(retried.subscriptions.length, 0);
    await r.close();
  });

  it('while the dispatch tier is down, holds at most the backlog, dropping ACKs first', async () => {
    const link = new FakeLink();
    link.failNext = 1000;
    const r = reporter(link, 10);
    for (let i = 0; i < 5; i++) r.sessionOpened(session(i));
    for (let i = 0; i < 10; i++) r.acked(session(100 + i), ['m']);
    await waitFor(() => link.batches.length >= 2, 'two attempts', 5000);
    const last = link.batches.at(-1)!;
    assert.ok(last.sessions.length + last.acks.length <= 10, `backlog kept: ${last.sessions.length} + ${last.acks.length}`);
    assert.equal(last.sessions.length, 5, 'presence kept, ACKs dropped first');
    link.failNext = 0;
    await r.close();
  });

  it('splits what piled up into reports of at most maxEntries, presence before the ACKs that follow it', async () => {
    const link = new FakeLink();
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    const slow: DispatchLink = { report: async (b) => { await gate; return link.report(b); } };
    const r = reporter(slow, 100_000, 100);
    r.sessionOpened(session(0)); // the first report, held in flight while everything below piles up
    await new Promise((res) => setTimeout(res, 20));
    for (let i = 1; i <= 150; i++) r.sessionOpened(session(i));
    for (let i = 1; i <= 150; i++) r.acked(session(i), ['m1', 'm2']);
    r.acked(session(1), Array.from({ length: 250 }, (_, k) => `x${k}`));
    release();
    await r.flush();
    const sizes = link.batches.map((b) => b.sessions.length + b.acks.reduce((n, a) => n + a.ids.length, 0));
    assert.ok(sizes.every((n) => n <= 100), `every report within the cap: ${sizes.join(',')}`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 1 + 150 + 300 + 250, 'nothing lost');
    const onlineAt = new Map<string, number>();
    link.batches.forEach((b, i) => b.sessions.forEach((s) => onlineAt.set(s.deviceId, i)));
    const acked = new Map<string, string[]>();
    link.batches.forEach((b, i) => b.acks.forEach((a) => {
      assert.ok(onlineAt.get(a.deviceId)! <= i, `${a.deviceId} ACKs after its online`);
      acked.set(a.deviceId, [...(acked.get(a.deviceId) ?? []), ...a.ids]);
    }));
    assert.deepEqual(acked.get('dev1'), ['m1', 'm2', ...Array.from({ length: 250 }, (_, k) => `x${k}`)], 'a split device keeps its order');
    await r.close();
  });

  it('reports ACKs of its broadcast fan-outs by device number, one entry per message, within the cap', async () => {
    const link = new FakeLink();
    const r = reporter(link, 100_000, 100);
    const numbered = (n: number) => ({ ...session(n), deviceNo: n });
    for (let i = 0; i < 150; i++) r.broadcastAcked(numbered(i), ['b1']);
    r.broadcastAcked(numbered(7), ['b2']);
    r.acked(numbered(7), ['u1']);
    await r.flush();
    const all = link.batches.flatMap((b) => b.broadcastAcks);
    assert.ok(link.batches.every((b) => b.broadcastAcks.reduce((n, a) => n + a.deviceNos.length, 0) + b.acks.length <= 100), 'within the cap');
    const nosOf = (id: string) => all.filter((a) => a.messageId === id).flatMap((a) => a.deviceNos);
    assert.deepEqual(nosOf('b1'), Array.from({ length: 150 }, (_, i) => i));
    assert.deepEqual(nosOf('b2'), [7]);
    assert.deepEqual(link.batches.flatMap((b) => b.acks), [{ deviceId: 'dev7', appId: 'app', ids: ['u1'], deviceNo: 7 }]);
    await r.close();
  });
});
