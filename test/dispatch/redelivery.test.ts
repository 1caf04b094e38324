import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { GatewayBatches, type Courier } from '../../src/dispatch/courier.js';
import type { InboxReplay } from '../../src/dispatch/inbox-replay.js';
import { Redeliverer } from '../../src/dispatch/redeliverer.js';
import { createLogger } from '../../src/observability/logger.js';
import type { OutboundDelivery } from '../../src/rpc/contract.js';
import { RedisKeys } from '../../src/store/keys.js';
import { RedeliverySchedule } from '../../src/store/redelivery-schedule.js';
import { RouteStore } from '../../src/store/route-store.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

describe('redelivery to devices whose gateway was unreachable', () => {
  let redis: Redis;
  let keys: RedisKeys;
  before(() => {
    redis = createTestRedis();
    keys = new RedisKeys(uniquePrefix('redeliver'));
  });
  after(async () => {
    await cleanupPrefix(redis, keys.prefix);
    await redis.quit();
  });

  it('schedule: a device is claimed once when due, keeps its first failure time, and settles', async () => {
    const schedule = new RedeliverySchedule(redis, keys, 1000);
    await schedule.schedule(['a', 'b'], 10_000);
    await schedule.schedule(['a'], 12_000); // a repeated failure does not postpone it
    assert.deepEqual(await schedule.claim(10, 10_500), []);
    const due = await schedule.claim(10, 11_000);
    assert.deepEqual(due.map((d) => d.deviceId).sort(), ['a', 'b']);
    assert.ok(due.every((d) => d.since === 10_000));
    assert.deepEqual(await schedule.claim(10, 11_000), [], 'claimed entries are gone');
    await schedule.schedule(['a'], 20_000);
    assert.equal((await schedule.claim(10, 21_000))[0]?.since, 10_000, 'first failure kept until settled');
    await schedule.settle(['a', 'b']);
    await schedule.schedule(['a'], 30_000);
    assert.equal((await schedule.claim(10, 31_000))[0]?.since, 30_000);
    await schedule.settle(['a']);
  });

  it('replays to the current route; gives up on devices without one or past the give-up time', async () => {
    const schedule = new RedeliverySchedule(redis, keys, 1000);
    const routes = new RouteStore(redis, keys);
    await routes.online('routed', { gatewayId: 'gw1', sessionId: 's1' });
    await routes.online('stale', { gatewayId: 'gw1', sessionId: 's2' });
    const now = Date.now();
    await schedule.schedule(['routed', 'gone'], now - 5000);
    await schedule.schedule(['stale'], now - 700_000);
    const planned: Array<[string, string, string]> = [];
    const replay = {
      async add(plan: GatewayBatches, deviceId: string, gatewayId: string, sessionId: string) {
        planned.push([deviceId, gatewayId, sessionId]);
        plan.put(gatewayId, { deviceId, sessionId, frame: Buffer.from('x'), messageId: 'm1', expiresAt: now + 60_000 });
        return 1;
      },
      async delivered() {},
    } as unknown as InboxReplay;
    const sentPlans: Array<Map<string, OutboundDelivery[]>> = [];
    const courier = { async send(plan: GatewayBatches) { sentPlans.push(plan); return [...plan.values()].flat(); } } as unknown as Courier;
    const redeliverer = new Redeliverer(schedule, routes, replay, courier, { intervalMs: 1000, batch: 10, giveUpMs: 600_000 }, createLogger({ level: 'silent' }));
    assert.equal(await redeliverer.poll(now), 3);
    assert.deepEqual(planned, [['routed', 'gw1', 's1']]);
    assert.deepEqual([...sentPlans[0]!.keys()], ['gw1']);
    assert.equal(await redis.hlen(keys.redeliverySince()), 0, 'every claimed device settled');
  });
});
