import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/**
 * claim_1 — take up to ARGV[2] messages due by ARGV[1] (unix ms) off the schedule, so two
 * dispatchers never sweep the same message.
 * KEYS[1] schedule (sorted set: message id → due time)
 */
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

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
    return (await this.redis.eval(CLAIM, 1, this.keys.expirySchedule(), now, limit)) as string[];
  }
}
