import type { Redis } from 'ioredis';
import { PetrelError } from '../domain/errors.js';
import { isValidTopic } from '../domain/topic.js';
import type { RedisKeys } from '../store/keys.js';

/**
 * Topic subscriptions of devices, kept in Redis: the device's own set (what it
 * subscribed to) and, per app and topic, the set of subscribers. The per-topic sets
 * serve counts and listings; delivery to topics reads the gateway-local index instead.
 */
export class SubscriptionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly maxTopicsPerDevice: number,
  ) {}

  /**
   * Adds or removes topics atomically, refusing (all of) a SUB that would take the device
   * over its topic cap, so a device never ends up half subscribed.
   */
  async change(appId: string, deviceId: string, topics: readonly string[], subscribe: boolean): Promise<void> {
    for (const topic of topics) {
      if (!isValidTopic(topic)) throw new PetrelError('topic_invalid', `invalid topic name "${topic.slice(0, 64)}"`);
    }
    if (topics.length === 0) return;
    const deviceTopics = this.keys.deviceTopics(deviceId);
    if (subscribe) {
      const added = await this.redis.eval(SUBSCRIBE_1, 1, deviceTopics, this.maxTopicsPerDevice, ...topics);
      if (added === -1) throw new PetrelError('topic_limit', `a device may subscribe to at most ${this.maxTopicsPerDevice} topics`);
    } else {
      await this.redis.srem(deviceTopics, ...topics);
    }
    // Subscriber sets live under the app's hash tag, a different slot: updated separately.
    const multi = this.redis.multi();
    for (const topic of topics) {
      if (subscribe) multi.sadd(this.keys.topicSubscribers(appId, topic), deviceId);
      else multi.srem(this.keys.topicSubscribers(appId, topic), deviceId);
    }
    await multi.exec();
  }

  async topicsOf(deviceId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.deviceTopics(deviceId));
  }
}

/**
 * KEYS[1] device topic set; ARGV[1] cap; ARGV[2..] topics.
 * Returns the number added, or -1 when the cap would be exceeded (nothing added).
 */
const SUBSCRIBE_1 = `
local cap = tonumber(ARGV[1])
local new = 0
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then new = new + 1 end
end
if redis.call('SCARD', KEYS[1]) + new > cap then return -1 end
for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
return new
`;
