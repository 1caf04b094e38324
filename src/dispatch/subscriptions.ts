import type { Redis } from 'ioredis';
import { PetrelError } from '../domain/errors.js';
import { validTopic } from '../domain/topic.js';
import { pipelineReplies } from '../store/redis.js';
import type { RedisKeys } from '../store/keys.js';
import type { TopicSync } from './topic-sync.js';

/** A topic of an app and how many devices are subscribed to it. */
export interface TopicCount {
  topic: string;
  subscribers: number;
}

/** Why one device of a bulk subscription was not subscribed. */
export type SubscriptionRefusal = 'topic_limit' | 'device_not_found';

export interface TopicPage {
  topics: TopicCount[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/**
 * Topic subscriptions of devices, kept in Redis: the device's own set (what it
 * subscribed to) and, per app and topic, the set of subscribers, plus the app's index of
 * topics that have any. The per-topic sets serve counts and listings; delivery to topics
 * will read a gateway-local index (issue #5). Device SUB/UNSUB (through the gateway's
 * report) and the app server's API calls both come here, so the cap and the index are
 * kept the same way whoever asks.
 */
export class SubscriptionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly maxTopicsPerDevice: number,
    /** The API's store tells gateways (their fan-out index); a device's own SUB needs not. */
    private readonly sync?: TopicSync,
  ) {}

  /**
   * Adds or removes topics of one device atomically, refusing (all of) a SUB that would
   * take the device over its topic cap, so a device never ends up half subscribed.
   */
  async change(appId: string, deviceId: string, topics: readonly string[], subscribe: boolean): Promise<void> {
    for (const topic of topics) validTopic(topic);
    if (topics.length === 0) return;
    const deviceTopics = this.keys.deviceTopics(deviceId);
    if (subscribe) {
      const added = await this.redis.eval(SUBSCRIBE_2, 2, deviceTopics, this.keys.device(deviceId), this.maxTopicsPerDevice, ...topics);
      if (added === -1) throw new PetrelError('topic_limit', `a device may subscribe to at most ${this.maxTopicsPerDevice} topics`);
      if (added === -2) throw new PetrelError('device_not_found');
    } else {
      await this.redis.eval(UNSUBSCRIBE_2, 2, deviceTopics, this.keys.device(deviceId), ...topics);
    }
    // Subscriber sets live under the app's hash tag, a different slot: updated separately.
    await this.members(appId, topics, [deviceId], subscribe);
    await this.sync?.changed([deviceId], topics, subscribe);
  }

  /**
   * One topic for many devices (the app server's bulk call): each device is checked
   * against its own cap, so the answer is per device — null when done, else the error
   * code. The caller has checked that the devices are the app's.
   */
  async changeDevices(appId: string, topic: string, deviceIds: readonly string[], subscribe: boolean): Promise<Map<string, SubscriptionRefusal | null>> {
    validTopic(topic);
    const out = new Map<string, SubscriptionRefusal | null>();
    if (deviceIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of deviceIds) {
      if (subscribe) pipeline.eval(SUBSCRIBE_2, 2, this.keys.deviceTopics(id), this.keys.device(id), this.maxTopicsPerDevice, topic);
      else pipeline.eval(UNSUBSCRIBE_2, 2, this.keys.deviceTopics(id), this.keys.device(id), topic);
    }
    const replies = await pipelineReplies(pipeline, deviceIds.length);
    const done: string[] = [];
    deviceIds.forEach((id, i) => {
      const value = replies[i];
      const refusal = !subscribe ? null : value === -1 ? 'topic_limit' : value === -2 ? 'device_not_found' : null;
      out.set(id, refusal);
      if (!refusal) done.push(id);
    });
    await this.members(appId, [topic], done, subscribe);
    await this.sync?.changed(done, [topic], subscribe);
    return out;
  }

  /** Unsubscribes a device from everything (it was invalidated). */
  async removeDevice(appId: string, deviceId: string): Promise<void> {
    await this.change(appId, deviceId, await this.topicsOf(deviceId), false);
  }

  /** Topics of a device, sorted; with `limit`, at most that many (any of them when there are more). */
  async topicsOf(deviceId: string, limit?: number): Promise<string[]> {
    const key = this.keys.deviceTopics(deviceId);
    return (limit === undefined ? await this.redis.smembers(key) : await this.redis.srandmember(key, limit)).sort();
  }

  async subscriberCount(appId: string, topic: string): Promise<number> {
    return this.redis.scard(this.keys.topicSubscribers(appId, topic));
  }

  /** The app's topics with subscribers, by name, `limit` at a time after the topic `after`. */
  async topics(appId: string, after: string | null, limit: number): Promise<TopicPage> {
    // One more than asked: whether there is a next page, without an empty last one.
    const names = await this.redis.zrangebylex(this.keys.appTopics(appId), after === null ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1);
    const page = names.slice(0, limit);
    const pipeline = this.redis.pipeline();
    for (const topic of page) pipeline.scard(this.keys.topicSubscribers(appId, topic));
    const counts = await pipelineReplies(pipeline, page.length);
    const topics = page.map((topic, i) => ({ topic, subscribers: Number(counts[i]) }));
    return { topics, next: names.length > limit ? (page.at(-1) ?? null) : null };
  }

  /** The app side: subscriber sets and the app's topic index, in one script (same {app} slot). */
  private async members(appId: string, topics: readonly string[], deviceIds: readonly string[], subscribe: boolean): Promise<void> {
    if (topics.length === 0 || deviceIds.length === 0) return;
    await this.redis.eval(
      TOPIC_MEMBERS_N, 1 + topics.length,
      this.keys.appTopics(appId), ...topics.map((t) => this.keys.topicSubscribers(appId, t)),
      subscribe ? 1 : 0, topics.length, ...topics, ...deviceIds,
    );
  }
}

/**
 * subscribe_2 — KEYS[1] device topic set, KEYS[2] device hash (same {device} slot);
 * ARGV[1] cap; ARGV[2..] topics.
 * Returns the number added, -1 when the cap would be exceeded, or -2 when the device has
 * been invalidated (a SUB racing its invalidation); nothing is added then. A change bumps
 * the topic set's version (`tv` in the device hash): a session whose HELLO read an older
 * one is given the whole set when its ONLINE report comes (dispatch/session-reports.ts).
 */
const SUBSCRIBE_2 = `
if redis.call('HGET', KEYS[2], 'status') == 'invalid' then return -2 end
local cap = tonumber(ARGV[1])
local new = 0
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then new = new + 1 end
end
if redis.call('SCARD', KEYS[1]) + new > cap then return -1 end
for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
if new > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'tv', 1) end
return new
`;

/** unsubscribe_2 — KEYS[1] device topic set, KEYS[2] device hash; ARGV topics. Returns the number removed; bumps `tv` when any (never creating the hash). */
const UNSUBSCRIBE_2 = `
local removed = redis.call('SREM', KEYS[1], unpack(ARGV))
if removed > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'tv', 1) end
return removed
`;

/**
 * topic_members_n — add devices to (or remove them from) topics of one app, keeping the
 * app's topic index: a topic is listed while it has a subscriber, and leaves the index
 * with its last one, atomically with that removal.
 * KEYS[1] app topic index (sorted set, scores 0); KEYS[2..n+1] subscriber sets of n topics
 * ARGV[1] 1 = subscribe, 0 = unsubscribe; ARGV[2] n; ARGV[3..n+2] the topic names (in
 * KEYS order); ARGV[n+3..] device ids
 */
const TOPIC_MEMBERS_N = `
local subscribe = ARGV[1] == '1'
local n = tonumber(ARGV[2])
for t = 1, n do
  local set = KEYS[t + 1]
  for d = n + 3, #ARGV do
    if subscribe then redis.call('SADD', set, ARGV[d]) else redis.call('SREM', set, ARGV[d]) end
  end
  if subscribe then redis.call('ZADD', KEYS[1], 0, ARGV[t + 2])
  elseif redis.call('SCARD', set) == 0 then redis.call('ZREM', KEYS[1], ARGV[t + 2]) end
end
return 0
`;
