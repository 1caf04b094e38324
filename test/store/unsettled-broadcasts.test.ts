import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { BroadcastLog } from '../../src/store/broadcast-log.js';
import { RedisKeys } from '../../src/store/keys.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

/**
 * The unsettled broadcasts of an app log (keys.appLogUnsettled, docs/architecture.md "A
 * cursor can pass a broadcast that has not arrived yet"): what each step does to the set,
 * against the real scripts.
 */
describe('broadcast log: unsettled entries', () => {
  let redis: Redis;
  let keys: RedisKeys;
  let log: BroadcastLog;
  let n = 0;
  const app = () => `app${++n}`;
  const hour = () => Date.now() + 3_600_000;
  const score = async (appId: string, id: string) => redis.zscore(keys.appLogUnsettled(appId), id);
  before(() => {
    redis = createTestRedis();
    keys = new RedisKeys(uniquePrefix('unsettled'));
    log = new BroadcastLog(redis, keys, new TurnPipeline(redis), 3);
  });
  after(async () => {
    await cleanupPrefix(redis, keys.prefix);
    await redis.quit();
  });

  it('an entry is unsettled for every cursor while published; settled in order, it leaves', async () => {
    const a = app();
    await log.append(a, 'm1', hour());
    assert.equal(await score(a, 'm1'), 'inf');
    assert.equal((await log.heads([a])).get(a)!.unsettled.get('m1'), Infinity);
    await log.settle(a, 'm1');
    assert.equal(await score(a, 'm1'), null);
  });

  it('overtaken while published, it stays for the cursors up to the head at its settle', async () => {
    const a = app();
    await log.append(a, 'm1', hour());
    await log.append(a, 'm2', hour());
    await log.markOvertaken(a, ['m1']);
    assert.equal(await score(a, 'm1'), 'inf', 'still being published: every cursor');
    await log.append(a, 'm3', hour());
    await log.settle(a, 'm1');
    assert.equal(await score(a, 'm1'), '3');
    // Later marks only raise it; a settle no longer touches it.
    await log.append(a, 'm4', hour());
    await log.markOvertaken(a, ['m1']);
    assert.equal(await score(a, 'm1'), '4');
    await log.settle(a, 'm1');
    assert.equal(await score(a, 'm1'), '4');
  });

  it('a mark racing a settle puts the entry back; a revoked one is gone for good', async () => {
    const a = app();
    await log.append(a, 'm1', hour());
    await log.settle(a, 'm1');
    await log.markOvertaken(a, ['m1']);
    assert.equal(await score(a, 'm1'), '1');
    await log.forget(a, 'm1');
    await log.markOvertaken(a, ['m1']);
    assert.equal(await score(a, 'm1'), null, 'revoked: a late answer does not bring it back');
  });

  it('trim drops overtaken entries below the trimmed seq, keeps those still being published', async () => {
    const a = app();
    await log.append(a, 'm1', hour());
    await log.append(a, 'm2', hour());
    await log.markOvertaken(a, ['m1']);
    await log.settle(a, 'm1'); // overtaken: score 2
    await log.append(a, 'm3', hour());
    await log.append(a, 'm4', hour()); // cap 3: m1 trimmed, trimmed = 1
    assert.equal(await score(a, 'm1'), '2', 'cursors up to 2 are above trimmed 1: still checked');
    assert.equal(await score(a, 'm2'), 'inf');
    await log.append(a, 'm5', hour()); // m2 trimmed, trimmed = 2
    assert.equal(await score(a, 'm1'), '2', 'a cursor of 2 gets no RESYNC (2 is not below 2)');
    await log.append(a, 'm6', hour()); // m3 trimmed, trimmed = 3
    assert.equal(await score(a, 'm1'), null, 'every cursor it matters to is below trimmed now');
    assert.equal(await score(a, 'm2'), 'inf', 'its publish may still be running');
  });

  it('an entry whose message expired leaves at the next append, whatever its score', async () => {
    const a = app();
    await log.append(a, 'gone', Date.now() - 1);
    await log.append(a, 'live', hour());
    assert.equal(await score(a, 'gone'), null);
    assert.equal(await score(a, 'live'), 'inf');
  });
});
