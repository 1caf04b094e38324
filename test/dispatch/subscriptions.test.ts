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

  it('keeps the app\'s topic index: listed with the first subscriber, gone with the last', async () => {
    await subs.change('idx', 'd1', ['alpha', 'beta'], true);
    await subs.change('idx', 'd2', ['beta'], true);
    assert.deepEqual(await subs.topics('idx', null, 10), { topics: [{ topic: 'alpha', subscribers: 1 }, { topic: 'beta', subscribers: 2 }], next: null });
    await subs.change('idx', 'd1', ['alpha', 'beta'], false);
    assert.deepEqual(await subs.topics('idx', null, 10), { topics: [{ topic: 'beta', subscribers: 1 }], next: null });
    await subs.removeDevice('idx', 'd2');
    assert.deepEqual(await subs.topics('idx', null, 10), { topics: [], next: null });
    assert.equal(await redis.exists(keys.appTopics('idx')), 0);
  });

  it('pages through topics by name, with no empty last page', async () => {
    const names = ['t1', 't2', 't3', 't4', 't5'];
    await subs.change('pages', 'p1', names.slice(0, 3), true);
    await subs.change('pages', 'p2', names.slice(3), true);
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page = await subs.topics('pages', after, 2);
      seen.push(...page.topics.map((t) => t.topic));
      after = page.next;
      pages++;
    } while (after !== null);
    assert.deepEqual(seen, names);
    assert.equal(pages, 3);
  });

  it('one topic for many devices: each device\'s cap decides for that device alone', async () => {
    await subs.change('bulk', 'full', ['x', 'y', 'z'], true);
    const result = await subs.changeDevices('bulk', 'news', ['full', 'room1', 'room2'], true);
    assert.deepEqual([...result], [['full', 'topic_limit'], ['room1', null], ['room2', null]]);
    assert.equal(await subs.subscriberCount('bulk', 'news'), 2);
    assert.deepEqual(await subs.topicsOf('full'), ['x', 'y', 'z']);
    await subs.changeDevices('bulk', 'news', ['room1', 'room2'], false);
    assert.equal(await subs.subscriberCount('bulk', 'news'), 0);
    assert.deepEqual((await subs.topics('bulk', null, 10)).topics.map((t) => t.topic), ['x', 'y', 'z']);
  });

  it('refuses to subscribe a device that has been invalidated (a SUB racing the invalidation)', async () => {
    await redis.hset(keys.device('gone'), { app: 'app', gen: 2, status: 'invalid' });
    await assert.rejects(subs.change('app', 'gone', ['news'], true), (e: unknown) => e instanceof PetrelError && e.code === 'device_not_found');
    assert.deepEqual([...(await subs.changeDevices('app', 'news', ['gone'], true))], [['gone', 'device_not_found']]);
    assert.deepEqual(await subs.topicsOf('gone'), []);
    assert.equal(await redis.sismember(keys.topicSubscribers('app', 'news'), 'gone'), 0);
  });
});
