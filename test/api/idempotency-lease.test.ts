// An Idempotency-Key claim is a lease (src/store/idempotency-store.ts): held while the
// request renews it, free again soon after the API process holding it dies, and never
// taken back by a request whose lease another one has since claimed.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { PetrelError } from '../../src/domain/errors.js';
import { expiryOf, newMessageId } from '../../src/domain/message.js';
import { MessageIntake } from '../../src/dispatch/message-intake.js';
import type { SendJob } from '../../src/dispatch/send-queue.js';
import type { StatsRecorder } from '../../src/dispatch/stats-recorder.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { FrameType, WireCodec } from '../../src/protocol/index.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import { MessageStore, type NewMessage } from '../../src/store/message-store.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';
import { countStoredMessages } from '../support/stack-fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Idempotency-Key claims', () => {
  const redis = createTestRedis();
  const prefix = uniquePrefix('idem-lease');
  const keys = new RedisKeys(prefix);
  const store = new IdempotencyStore(redis, keys, { doneMs: 60_000, pendingMs: 300 });
  after(async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  const messages = new MessageStore(redis, keys, new TurnPipeline(redis), 60_000);
  const codec = new WireCodec();
  const message = (data: string): NewMessage => {
    const now = Date.now();
    const id = newMessageId(now);
    const exp = expiryOf(now, 60);
    return { id, appId: 'app', target: { kind: 'aliases', ids: ['a'] }, ts: now, exp, frame: codec.encode({ t: FrameType.PUSH, id, ts: now, exp, data }), accepted: 1 };
  };
  const claimed = async (key: string) => {
    const c = await store.claim('app', key, 'fp');
    assert.ok('claimed' in c, `claimed ${key}`);
    return c.claimed;
  };

  it('a renewed claim outlives its lifetime; an abandoned one (the process died) lapses', async () => {
    const held = await claimed('held');
    await claimed('abandoned');
    for (let i = 0; i < 6; i++) {
      await sleep(held.renewEveryMs);
      await held.renew();
    }
    const again = await store.claim('app', 'held', 'fp');
    assert.ok('earlier' in again && again.earlier.state === 'pending', 'still held after 6 renewals (> 1 lifetime)');
    assert.ok('claimed' in (await store.claim('app', 'abandoned', 'fp')), 'free again after one lifetime without renewal');
  });

  it('a request whose claim lapsed and was taken by a retry neither renews nor releases the retry\'s claim', async () => {
    const slow = await claimed('contested');
    await sleep(400);
    const retry = await claimed('contested');
    await slow.release();
    await slow.renew();
    const seen = await store.claim('app', 'contested', 'fp');
    assert.ok('earlier' in seen && seen.earlier.state === 'pending', 'the retry still holds it');
    await retry.release();
    assert.ok('claimed' in (await store.claim('app', 'contested', 'fp')), 'its holder released it');
  });

  it('a request whose claim lapsed stores nothing, not even the other messages of its batch; the batch without it does', async () => {
    const stalled = await claimed('stalled');
    const steady = await claimed('steady');
    await sleep(400);
    const retry = await claimed('stalled');
    const answer = { status: 202, body: {} };
    const batch = [message('stalled'), message('steady')];
    const writes = [store.answerWrite('app', 'stalled', 'fp', answer, stalled), store.answerWrite('app', 'steady', 'fp', answer, steady)];
    // 'steady' lapsed too (nobody renewed it in this test): both are refused, nothing stored.
    assert.deepEqual(await messages.create(batch, writes), [0, 1]);
    assert.equal(await countStoredMessages(redis, prefix), 0);
    const retried = await store.claim('app', 'stalled', 'fp');
    assert.ok('earlier' in retried && retried.earlier.state === 'pending', 'the retry still holds the key the stalled request lost');
    await retry.release();

    // A claim renewed past its first life is still held.
    const renewed = await claimed('renewed');
    for (let i = 0; i < 4; i++) {
      await sleep(renewed.renewEveryMs);
      await renewed.renew();
    }
    const kept = [message('renewed')];
    assert.deepEqual(await messages.create([batch[0]!, ...kept], [writes[0]!, store.answerWrite('app', 'renewed', 'fp', answer, renewed)]), [0]);
    assert.equal(await countStoredMessages(redis, prefix), 0, 'one lapsed claim holds back the whole call');
    assert.deepEqual(await messages.create(kept, [store.answerWrite('app', 'renewed', 'fp', answer, renewed)]), []);
    assert.equal(await countStoredMessages(redis, prefix), 1);
    // The same call again (a client retry after a lost reply): it holds its own answer already.
    assert.deepEqual(await messages.create(kept, [store.answerWrite('app', 'renewed', 'fp', answer, renewed)]), []);
    assert.equal(await countStoredMessages(redis, prefix), 1);
    const done = await store.claim('app', 'renewed', 'fp');
    assert.ok('earlier' in done && done.earlier.state === 'done', 'its answer is on record');
  });

  it('the intake refuses only the request whose claim lapsed (409, retry) and stores the rest of its batch, also when closing', async () => {
    const before = await countStoredMessages(redis, prefix);
    const queued: string[] = [];
    const queue = { addBulk: async (jobs: Array<{ data: SendJob }>) => { queued.push(...jobs.flatMap((j) => j.data.ids)); return []; } };
    for (const closing of [false, true]) {
      const intake = new MessageIntake(
        redis, keys, messages, queue as unknown as Queue<SendJob>, codec,
        { defaultTtlSec: 60, maxDataBytes: 4096, batchMs: 20, maxScheduleSec: 3600 },
        createMetrics(), createLogger({ level: 'silent' }), { count: () => undefined } as unknown as StatsRecorder,
      );
      const stalled = await claimed(`intake-stalled-${closing}`);
      await sleep(400);
      const fresh = await claimed(`intake-fresh-${closing}`);
      const answer = { status: 202, body: {} };
      const lost = message('lost');
      const kept = message('kept');
      // One intake batch: the commits arrive within its window (or are what close() writes).
      const commits = Promise.allSettled([
        intake.commit([lost], store.answerWrite('app', `intake-stalled-${closing}`, 'fp', answer, stalled)),
        intake.commit([kept], store.answerWrite('app', `intake-fresh-${closing}`, 'fp', answer, fresh)),
        intake.commit([message('no key')]),
      ]);
      if (closing) await intake.close();
      const [a, b, c] = await commits;
      assert.ok(a.status === 'rejected' && a.reason instanceof PetrelError && a.reason.code === 'idempotency_in_progress', String(a.status === 'rejected' ? a.reason : a.status));
      assert.deepEqual([b.status, c.status], ['fulfilled', 'fulfilled'], closing ? 'close() writes what the lapse put back' : '');
      assert.equal(await countStoredMessages(redis, prefix), before + (closing ? 4 : 2));
      assert.ok(!queued.includes(lost.id) && queued.includes(kept.id), 'only stored messages are sent');
      if (!closing) await intake.close();
    }
  });
});
