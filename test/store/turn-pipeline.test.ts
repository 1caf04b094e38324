import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisScript } from '../../src/store/redis-script.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

const INCR_1 = new RedisScript('incr_1', 1, `
-- KEYS[1] counter; ARGV[1] step. Returns the new value.
return redis.call('INCRBY', KEYS[1], ARGV[1])`);
const FAIL_0 = new RedisScript('fail_0', 0, `return redis.error_reply('ERR scripted failure')`);

/** Counts the pipelines `redis` sends until restore(). */
function countPipelines(redis: Redis): { count: number; restore(): void } {
  const original = redis.pipeline.bind(redis);
  const counter = {
    count: 0,
    restore: () => {
      redis.pipeline = original;
    },
  };
  redis.pipeline = ((...a: Parameters<Redis['pipeline']>) => {
    counter.count++;
    return original(...a);
  }) as Redis['pipeline'];
  return counter;
}

describe('TurnPipeline', () => {
  let redis: Redis;
  const prefix = uniquePrefix('turn');
  before(() => {
    redis = createTestRedis();
  });
  after(async () => {
    await cleanupPrefix(redis, prefix);
    await redis.quit();
  });

  it('sends the calls of one turn as one pipeline and resolves each with its own result', async () => {
    const batch = new TurnPipeline(redis);
    await redis.script('LOAD', INCR_1.lua); // measure batching, not the first NOSCRIPT
    const sent = countPipelines(redis);
    try {
      const results = await Promise.all([1, 2, 3, 4].map((step) => batch.run(INCR_1, [`${prefix}c`], [step])));
      assert.deepEqual(results, [1, 3, 6, 10]);
      assert.equal(sent.count, 1, 'one pipeline for the turn');
    } finally {
      sent.restore();
    }
  });

  it('with a window, batches calls from several turns; a full batch goes at once', async () => {
    await redis.script('LOAD', INCR_1.lua);
    const sent = countPipelines(redis);
    try {
      const windowed = new TurnPipeline(redis, 30);
      const first = windowed.run(INCR_1, [`${prefix}w`], [1]);
      await new Promise((r) => setImmediate(r)); // a later turn, inside the window
      const second = windowed.run(INCR_1, [`${prefix}w`], [1]);
      assert.deepEqual(await Promise.all([first, second]), [1, 2]);
      assert.equal(sent.count, 1, 'one pipeline for both turns');

      sent.count = 0;
      const capped = new TurnPipeline(redis, 1000, 2);
      const started = Date.now();
      const results = await Promise.all([1, 1].map((step) => capped.run(INCR_1, [`${prefix}w`], [step])));
      assert.deepEqual(results, [3, 4]);
      assert.equal(sent.count, 1);
      assert.ok(Date.now() - started < 500, 'a full batch does not wait for the window');
    } finally {
      sent.restore();
    }
  });

  it('recovers when Redis lost its scripts (NOSCRIPT): loads once, retries', async () => {
    const batch = new TurnPipeline(redis);
    await batch.run(INCR_1, [`${prefix}d`], [1]);
    await redis.script('FLUSH');
    const results = await Promise.all([batch.run(INCR_1, [`${prefix}d`], [1]), batch.run(INCR_1, [`${prefix}d`], [1])]);
    assert.deepEqual(results.sort(), [2, 3]);
  });

  it('fails only the call whose script failed', async () => {
    const batch = new TurnPipeline(redis);
    const [ok, failed] = await Promise.allSettled([batch.run(INCR_1, [`${prefix}e`], [5]), batch.run(FAIL_0, [], [])]);
    assert.deepEqual(ok, { status: 'fulfilled', value: 5 });
    assert.equal(failed.status, 'rejected');
    assert.match(String((failed as PromiseRejectedResult).reason), /scripted failure/);
  });
});
