import type { Redis } from 'ioredis';
import { pipelineReplies } from './redis.js';
import type { RedisKeys } from './keys.js';

export const STAT_FIELDS = ['accepted', 'delivered', 'opened', 'expired', 'failed'] as const;
export type StatField = (typeof STAT_FIELDS)[number];
export type StatCounts = Record<StatField, number>;
export type Granularity = 'hour' | 'day';

export const BUCKET_MS: Readonly<Record<Granularity, number>> = { hour: 3_600_000, day: 86_400_000 };

/** Start (unix ms) of the UTC hour or day `at` falls in; unix time has no leap seconds, so plain division is exact. */
export function bucketStart(granularity: Granularity, at: number): number {
  return Math.floor(at / BUCKET_MS[granularity]) * BUCKET_MS[granularity];
}

/** Increments gathered in process for one app and UTC hour (the day bucket is derived from the hour). */
export interface StatIncrement {
  appId: string;
  /** Start of the UTC hour the increments fell in. */
  hour: number;
  counts: Partial<StatCounts>;
}

export interface StatBucket extends StatCounts {
  /** Bucket start, RFC 3339 UTC. */
  start: string;
}

/**
 * Per-app counters by UTC hour and day: one hash per app and bucket, HINCRBY per counter,
 * each bucket expiring its retention after it started.
 */
export class StatsStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly retentionMs: Readonly<Record<Granularity, number>>,
  ) {}

  /** Adds gathered increments in one pipeline (both granularities). */
  async add(increments: readonly StatIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const inc of increments) {
      for (const granularity of ['hour', 'day'] as const) {
        const start = bucketStart(granularity, inc.hour);
        const key = this.keys.appStats(inc.appId, granularity, start);
        for (const [field, n] of Object.entries(inc.counts)) if (n) pipeline.hincrby(key, field, n);
        pipeline.pexpireat(key, start + this.retentionMs[granularity]);
      }
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }

  /** Buckets from the one holding `from` to the one holding `to`, zeros where nothing was counted. */
  async range(appId: string, granularity: Granularity, from: number, to: number): Promise<StatBucket[]> {
    const starts: number[] = [];
    for (let t = bucketStart(granularity, from); t <= to; t += BUCKET_MS[granularity]) starts.push(t);
    if (starts.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const start of starts) pipeline.hgetall(this.keys.appStats(appId, granularity, start));
    const hashes = await pipelineReplies(pipeline, starts.length);
    return starts.map((start, i) => {
      const h = hashes[i] as Record<string, string>;
      const bucket = { start: new Date(start).toISOString() } as StatBucket;
      for (const field of STAT_FIELDS) bucket[field] = Number(h[field] ?? 0);
      return bucket;
    });
  }
}
