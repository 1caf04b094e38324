import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { SubscriptionStore } from '../../src/dispatch/subscriptions.js';
import { PetrelError } from '../../src/domain/errors.js';
import { RedisKeys } from '../../src/store/keys.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

describe('topic subscriptions', () => {
  let redis: Redis;
  let keys: RedisKeys;
  let subs: SubscriptionStore;
  before(() => {
    redis = createTestRedis();
    keys = new RedisKeys(uniquePrefix('subs'));
    subs = new SubscriptionStore(redis, keys, 3);
  });
  after(async () => {
    await cleanupPrefix(redis, keys.prefix);
    await redis.quit();
  });

  it('subscribes and unsubscribes, on the device and in the topic subscriber set', async () => {
    await subs.change('app', 'dev1', ['news', 'sport'], true);
    assert.deepEqual((await subs.topicsOf('dev1')).sort(), ['news', 'sport']);
    assert.deepEqual(await redis.smembers(keys.topicSubscribers('app', 'news')), ['dev1']);
    await subs.change('app', 'dev1', ['news'], false);
    assert.deepEqual(await subs.topicsOf('dev1'), ['sport']);
    assert.deepEqual(await redis.smembers(keys.topicSubscribers('app', 'news')), []);
  });

  it('rejects an invalid topic name and changes nothing', async () => {
    await assert.rejects(subs.change('app', 'dev2', ['ok', 'not ok!'], true), (e: unknown) => e instanceof PetrelError && e.code === 'topic_invalid');
    assert.deepEqual(await subs.topicsOf('dev2'), []);
  });

  it('refuses, whole, a SUB that would pass the per-device cap', async () => {
    await subs.change('app', 'dev3', ['a', 'b'], true);
    await assert.rejects(subs.change('app', 'dev3', ['c', 'd'], true), (e: unknown) => e instanceof PetrelError && e.code === 'topic_limit');
    assert.deepEqual((await subs.topicsOf('dev3')).sort(), ['a', 'b'], 'nothing of the refused SUB was added');
    await subs.change('app', 'dev3', ['b', 'c'], true); // b already there: only one new, fits
    assert.deepEqual((await subs.topicsOf('dev3')).sort(), ['a', 'b', 'c']);
  });
});
