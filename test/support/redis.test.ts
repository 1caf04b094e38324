// The test harness itself: the shared test Redis with per-test prefixes, and the
// spawned Redis that fault tests crash and restart.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from './redis.js';
import { spawnRedis } from './spawn-redis.js';

describe('shared test Redis', () => {
  const redis = createTestRedis();
  after(() => redis.disconnect());

  test('testRedisUrl explains how to get a Redis when the variable is missing', () => {
    const saved = process.env['PETREL_TEST_REDIS_URL'];
    delete process.env['PETREL_TEST_REDIS_URL'];
    try {
      assert.throws(() => testRedisUrl(), /npm test/);
    } finally {
      process.env['PETREL_TEST_REDIS_URL'] = saved;
    }
  });

  test('uniquePrefix names the test and never repeats', () => {
    const prefixes = new Set(Array.from({ length: 1000 }, () => uniquePrefix('inbox')));
    assert.equal(prefixes.size, 1000);
    for (const prefix of prefixes) assert.match(prefix, /^t:inbox:[0-9a-f]{12}:$/);
  });

  test('cleanupPrefix deletes its own prefix and nothing else', async () => {
    const mine = uniquePrefix('mine');
    const theirs = uniquePrefix('theirs');
    try {
      // More keys than one SCAN batch, of several types.
      const pipeline = redis.pipeline();
      for (let i = 0; i < 2500; i++) pipeline.set(`${mine}k${i}`, 'v');
      pipeline.hset(`${mine}hash`, 'f', 'v').rpush(`${mine}list`, 'a').set(`${theirs}k`, 'v');
      await pipeline.exec();

      assert.equal(await cleanupPrefix(redis, mine), 2502);
      assert.equal((await redis.keys(`${mine}*`)).length, 0);
      assert.equal(await redis.get(`${theirs}k`), 'v');
      assert.equal(await cleanupPrefix(redis, mine), 0);
    } finally {
      await cleanupPrefix(redis, mine);
      await cleanupPrefix(redis, theirs);
    }
  });

  test('cleanupPrefix takes glob characters in a prefix literally', async () => {
    const base = uniquePrefix('glob');
    const globby = `${base}d[1]*:`;
    const lookalike = `${base}d1x:`;
    try {
      await redis.set(`${globby}k`, 'v');
      await redis.set(`${lookalike}k`, 'v');
      assert.equal(await cleanupPrefix(redis, globby), 1);
      assert.equal(await redis.get(`${lookalike}k`), 'v');
    } finally {
      await cleanupPrefix(redis, base);
    }
  });
});

describe('spawned Redis for fault tests', () => {
  test('a write acknowledged under appendfsync always survives kill -9 and restart', async (t) => {
    const server = await spawnRedis({ appendfsync: 'always' });
    t.after(() => server.destroy());
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    await client.set('receipt', 'delivered');
    client.disconnect();

    await server.kill9();
    assert.equal(server.running, false);
    await server.restart();
    assert.equal(server.running, true);

    const again = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      assert.equal(await again.get('receipt'), 'delivered');
    } finally {
      again.disconnect();
    }
  });

  test('a clean stop keeps an everysec write, and the port stays the same', async (t) => {
    const server = await spawnRedis();
    t.after(() => server.destroy());
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    await client.set('inbox', 'kept');
    client.disconnect();

    const { port, url } = server;
    await server.stop();
    await server.restart();
    assert.equal(server.port, port);

    const again = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      assert.equal(await again.get('inbox'), 'kept');
    } finally {
      again.disconnect();
    }
  });
});
