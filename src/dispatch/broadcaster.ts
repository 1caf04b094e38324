import type { Redis } from 'ioredis';
import { APP_LOG, AUDIENCE_BUCKETS, filterOf } from '../domain/audience.js';
import type { BroadcastTarget, StoredMessage } from '../domain/message.js';
import { conditionTopics, parseCondition, type TopicCondition } from '../domain/topic-condition.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { WireCodec } from '../protocol/index.js';
import type { BroadcastLog } from '../store/broadcast-log.js';
import type { RedisKeys } from '../store/keys.js';
import { pipelineReplies } from '../store/redis.js';
import type { BroadcastPublish, GatewayLink } from './gateway-link.js';

/** A broadcast message as a send job or a campaign hands it over. */
export interface Broadcast extends StoredMessage {
  readonly target: BroadcastTarget;
  /** Campaign messages carry their campaign id in PUSH `cid`. */
  readonly campaignId?: string;
}

/**
 * Read diffusion (docs/architecture.md, "Broadcasts"): a topic, condition or whole-app
 * message is appended once to its app's log and published once to every gateway, which
 * fans it out to its own matching sessions. Devices that are offline catch up from the log
 * when they reconnect (log-catch-up.ts). Nothing here is per device.
 */
export class Broadcaster {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly log: BroadcastLog,
    private readonly gateways: GatewayLink,
    private readonly codec: WireCodec,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Puts a broadcast in its app's log (idempotent: a re-run keeps its seq) and records how
   * to replay it; `released` audience buckets (all, unless a paced campaign starts it).
   * Returns the publish to hand to gateways.
   */
  async prepare(m: Broadcast, released = AUDIENCE_BUCKETS): Promise<BroadcastPublish> {
    const seq = await this.log.append(m.appId, m.id, m.exp);
    const gateways = (await this.gateways.live()).map((g) => g.id);
    const push = this.codec.decodeBody(m.frame.subarray(4)) as Record<string, unknown> & { t: number };
    const frame = this.codec.encode({ ...push, log: APP_LOG, seq, ...(m.campaignId ? { cid: m.campaignId } : {}) } as never);
    const filter = filterOf(m.target);
    await this.log.published({ id: m.id, seq, frame, filter, released, targeted: await this.estimate(m.appId, m.target), gateways });
    return { appId: m.appId, seq, filter, fromBucket: 0, toBucket: released, frame, messageId: m.id, expiresAt: m.exp };
  }

  /** Broadcasts of a send job: logged, then published whole. */
  async dispatch(messages: readonly Broadcast[]): Promise<void> {
    for (const m of messages) {
      const entry = await this.prepare(m);
      await this.publish(entry);
    }
    this.metrics.messagesDispatched.inc(messages.length);
  }

  /**
   * Publishes (a slice of) an entry on every live gateway that does not have it yet, at
   * once, and returns the sessions it reached. A gateway that cannot be reached (or does
   * not answer in time: it may be busy fanning out earlier broadcasts) fails the call after
   * the others were served, so the caller retries: the gateways that answered are skipped
   * then (their answer is recorded, and counted once: BroadcastLog.countPublished), and a
   * gateway that did the work without its answer arriving recognises the repeat and does
   * not write the PUSH again (gateway/recent-publishes.ts).
   */
  async publish(entry: BroadcastPublish): Promise<number> {
    const buckets = [entry.fromBucket, entry.toBucket] as const;
    const live = await this.gateways.live();
    // No gateway at all is far more likely a registry entry that lapsed (a gateway too busy
    // to renew it) than a deployment without gateways: retried, not taken as sent to none.
    if (live.length === 0) throw new Error(`broadcast ${entry.messageId}: no live gateway to publish to`);
    const done = await this.log.publishedOn(entry.messageId, buckets, live.map((g) => g.id));
    const gateways = live.filter((g) => !done.has(g.id));
    const results = await Promise.all(gateways.map((g) => this.gateways.publish(g.id, entry)));
    // A gateway that had sent a later seq of the log first: some device may have passed
    // this entry, so its settle keeps it for catch-up. Marked before the answers are
    // recorded: a retry skips the gateways whose answer was recorded.
    if (results.some((r) => r?.late === true)) await this.log.markOvertaken(entry.appId, [entry.messageId]);
    await Promise.all(gateways.map((g, i) => {
      const result = results[i];
      return result === null || result === undefined ? undefined : this.log.countPublished(entry.messageId, g.id, buckets, result.sent);
    }));
    const sent = results.reduce<number>((sum, r) => sum + (r?.sent ?? 0), 0);
    this.metrics.broadcastPushes.inc(sent);
    const missed = gateways.filter((_, i) => results[i] === null).map((g) => g.id);
    if (missed.length > 0) {
      this.logger.warn({ message: entry.messageId, gateways: missed }, 'broadcast publish did not reach every gateway; retrying');
      throw new Error(`broadcast ${entry.messageId} did not reach gateways ${missed.join(', ')}`);
    }
    // The last slice is out everywhere (a paced campaign publishes its slices in order).
    // A gateway live at the append and gone now (it died, or its registry entry lapsed)
    // cannot answer late, yet it may have written a later seq first: overtaken.
    if (entry.toBucket >= AUDIENCE_BUCKETS) {
      const liveIds = new Set(live.map((g) => g.id));
      if ((await this.log.gatewaysAtAppend(entry.messageId)).some((g) => !liveIds.has(g))) {
        await this.log.markOvertaken(entry.appId, [entry.messageId]);
      }
      await this.log.settle(entry.appId, entry.messageId);
    }
    return sent;
  }

  /**
   * Devices a broadcast is for, estimated: exact for one topic (its subscriber count) and
   * the whole app (active devices); for a condition an upper bound from the counts of its
   * topics (AND: the smallest, OR: the sum, NOT: everyone), without set operations over
   * millions of members.
   */
  async estimate(appId: string, target: BroadcastTarget): Promise<number> {
    const topics = target.kind === 'topic' ? [target.topic] : target.kind === 'condition' ? conditionTopics(parseCondition(target.condition)) : [];
    const pipeline = this.redis.pipeline();
    pipeline.hget(this.keys.app(appId), 'devices');
    for (const t of topics) pipeline.scard(this.keys.topicSubscribers(appId, t));
    const [everyone, ...counts] = (await pipelineReplies(pipeline, topics.length + 1)).map((v) => Math.max(0, Number(v ?? 0)));
    // Devices registered before the counter existed are counted at their next HELLO.
    const all = Math.max(everyone ?? 0, ...counts);
    if (target.kind === 'all') return all;
    const byTopic = new Map(topics.map((t, i) => [t, counts[i] ?? 0]));
    if (target.kind === 'topic') return byTopic.get(target.topic) ?? 0;
    return Math.min(all, upperBound(parseCondition(target.condition), byTopic, all));
  }
}

function upperBound(c: TopicCondition, counts: ReadonlyMap<string, number>, all: number): number {
  switch (c.kind) {
    case 'topic': return counts.get(c.topic) ?? 0;
    case 'not': return all;
    case 'and': return Math.min(...c.of.map((x) => upperBound(x, counts, all)));
    case 'or': return Math.min(all, c.of.reduce((sum, x) => sum + upperBound(x, counts, all), 0));
  }
}
