import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import type { EmittedEvent } from '../../src/dispatch/delivery-events.js';
import { ReceiptBatcher } from '../../src/dispatch/receipt-batcher.js';
import type { ReceiptJob } from '../../src/dispatch/receipt-queue.js';
import { StatsRecorder } from '../../src/dispatch/stats-recorder.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { StatIncrement, StatsStore } from '../../src/store/stats-store.js';
import { waitFor } from '../support/wait.js';

const log = createLogger({ level: 'silent' });
const at = Date.parse('2026-11-23T16:30:00Z');

function delivered(appId: string, n: number, callbackUrl?: string): EmittedEvent {
  const event = { type: 'delivered' as const, appId, messageId: `m${n}`, deviceId: `d${n}`, at };
  return callbackUrl ? { event, callbackUrl } : { event };
}

describe('receipt batcher', () => {
  function queue() {
    const jobs: Array<{ data: ReceiptJob; jobId: string }> = [];
    const q = { add: async (_name: string, data: ReceiptJob, opts: { jobId: string }) => { jobs.push({ data, jobId: opts.jobId }); } } as unknown as Queue<ReceiptJob>;
    return { q, jobs };
  }

  it('one job per (app, URL) and window; a full batch goes at once; events without a URL are skipped', async () => {
    const { q, jobs } = queue();
    const batcher = new ReceiptBatcher(q, { windowMs: 10_000, maxBatch: 3 }, log);
    batcher.onEvents([delivered('a', 1, 'https://x/r'), delivered('a', 2, 'https://x/r'), delivered('b', 3, 'https://x/r'), delivered('a', 4)]);
    assert.equal(jobs.length, 0);
    batcher.onEvents([delivered('a', 5, 'https://x/r')]);
    await waitFor(() => jobs.length === 1, 'the full batch');
    assert.deepEqual(jobs[0]!.data.events.map((e) => e.messageId), ['m1', 'm2', 'm5']);
    assert.equal(jobs[0]!.data.appId, 'a');
    assert.match(jobs[0]!.jobId, /^rcpt_/);
    await batcher.close();
    assert.equal(jobs.length, 2);
    assert.deepEqual(jobs[1]!.data, { appId: 'b', url: 'https://x/r', events: [{ type: 'delivered', messageId: 'm3', deviceId: 'd3', at }] });
  });
});

describe('stats recorder', () => {
  it('an ACK storm is one write per flush, summed per app and hour; a failed flush is kept for the next', async () => {
    const writes: StatIncrement[][] = [];
    let fail = true;
    const store = { add: async (incs: StatIncrement[]) => { if (fail) { fail = false; throw new Error('down'); } writes.push(incs); } } as unknown as StatsStore;
    const recorder = new StatsRecorder(store, 20, createMetrics(undefined, { defaults: false }), log);
    for (let i = 0; i < 1000; i++) recorder.onEvents([delivered('a', i)]);
    recorder.count('a', 'accepted', at, 2);
    recorder.count('b', 'accepted', at + 3_600_000);
    await waitFor(() => writes.length === 1, 'the retried flush', 2000);
    await recorder.close();
    assert.equal(writes.length, 1);
    assert.deepEqual(writes[0]!.map((w) => [w.appId, new Date(w.hour).toISOString(), w.counts]).sort(), [
      ['a', '2026-11-23T16:00:00.000Z', { delivered: 1000, accepted: 2 }],
      ['b', '2026-11-23T17:00:00.000Z', { accepted: 1 }],
    ]);
  });
});
