// Tests against the real Redis that `npm test` starts (scripts/lib/test.mjs). Every
// test works under its own random key prefix and deletes it afterwards, so test files
// can share one server while running concurrently.
//
//   const redis = createTestRedis();
//   const prefix = uniquePrefix('inbox');
//   after(async () => { await cleanupPrefix(redis, prefix); redis.disconnect(); });

import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

/** URL of the test Redis started by `npm test`. */
export function testRedisUrl(): string {
  const url = process.env['PETREL_TEST_REDIS_URL'];
  if (url === undefined || url === '') {
    throw new Error(
      'PETREL_TEST_REDIS_URL is not set: run the tests with `npm test` (e.g. `npm test -- test/store`), ' +
        'which starts a private Redis, or set PETREL_TEST_REDIS_URL to a Redis you can flush',
    );
  }
  return url;
}

/**
 * A key prefix no other test uses: `t:<name>:<random>:`. `name` says whose keys these
 * are when looking at a Redis left behind by a failed run.
 */
export function uniquePrefix(name: string): string {
  return `t:${name}:${randomBytes(6).toString('hex')}:`;
}

/**
 * A client for the test Redis. It fails a command after a few reconnect attempts
 * instead of queueing it forever, so a dead server fails the test rather than hanging
 * it. Close it with `disconnect()` (or `quit()`) when the test is done.
 */
export function createTestRedis(options: RedisOptions = {}): Redis {
  return new Redis(testRedisUrl(), {
    maxRetriesPerRequest: 3,
    connectTimeout: 5_000,
    ...options,
  });
}

/** Deletes every key that starts with `prefix`; returns how many were deleted. */
export { deletePrefix as cleanupPrefix } from '../../src/store/delete-prefix.js';
