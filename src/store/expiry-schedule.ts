import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/**
 * claim_1 — lease up to ARGV[2] messages due by ARGV[1] (unix ms): they move to ARGV[3]
 * (the lease's end), so two dispatchers never sweep the same message at once, and one
 * whose sweeper died comes due again instead of being lost.
 * KEYS[1] schedule (sorted set: message id → due time)
 */
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i]) end
return due`;

/** A claimed message not swept within this long is claimed again. */
const LEASE_MS = 60_000;

/**
 * Traced messages waiting for their expiry (plus a grace), so that devices which never
 * came back get their `expired` event. Untraced (large) sends are not scheduled: their
 * devices are not listed anywhere, and their expired entries are found on replay.
 */
export class ExpirySchedule {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async schedule(entries: ReadonlyArray<{ messageId: string; dueAt: number }>): Promise<void> {
    if (entries.length === 0) return;
    await this.redis.zadd(this.keys.expirySchedule(), 'NX', ...entries.flatMap((e) => [e.dueAt, e.messageId]));
  }

  async claim(limit: number, now = Date.now()): Promise<string[]> {
    return (await this.redis.eval(CLAIM, 1, this.keys.expirySchedule(), now, limit, now + LEASE_MS)) as string[];
  }

  /** Swept: off the schedule. */
  async done(messageIds: readonly string[]): Promise<void> {
    if (messageIds.length > 0) await this.redis.zrem(this.keys.expirySchedule(), ...messageIds);
  }
}
