// An Idempotency-Key claim is a lease (src/store/idempotency-store.ts): held while the
// request renews it, free again soon after the API process holding it dies, and never
// taken back by a request whose lease another one has since claimed.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Idempotency-Key claims', () => {
  const redis = createTestRedis();
  const prefix = uniquePrefix('idem-lease');
  const store = new IdempotencyStore(redis, new RedisKeys(prefix), { doneMs: 60_000, pendingMs: 300 });
  after(async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

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
});
