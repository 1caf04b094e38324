import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** A receipt batch that ran out of attempts, as the API shows it. */
export interface DeadLetter {
  /** The batch's `Petrel-Delivery` id; a redrive sends it again under the same id. */
  delivery: string;
  url: string;
  events: unknown[];
  /** Unix ms of the last attempt. */
  failedAt: number;
  attempts: number;
  /** Why the last attempt failed, and the HTTP status when there was an answer. */
  error: string;
  status?: number;
}

/**
 * take_2 — the oldest `count` entries of a dead-letter list, removed atomically so two
 * redrives cannot send one batch twice.
 * KEYS[1] list (newest first); ARGV[1] count
 */
const TAKE_OLDEST = `
local taken = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
redis.call('LTRIM', KEYS[1], 0, -tonumber(ARGV[1]) - 1)
return taken`;

/** Per-app dead-letter list of receipt batches: capped (newest kept), expiring when left alone. */
export class ReceiptDeadLetters {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly cap: number,
    private readonly retentionMs: number,
  ) {}

  async add(appId: string, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const key = this.keys.receiptDeadLetters(appId);
    await this.redis
      .multi()
      .lpush(key, ...letters.map((l) => JSON.stringify(l)))
      .ltrim(key, 0, this.cap - 1)
      .pexpire(key, this.retentionMs)
      .exec();
  }

  /** Newest first. */
  async list(appId: string, limit: number): Promise<DeadLetter[]> {
    return (await this.redis.lrange(this.keys.receiptDeadLetters(appId), 0, limit - 1)).map((s) => JSON.parse(s) as DeadLetter);
  }

  /** Removes and returns up to `limit` of the oldest, oldest first. */
  async take(appId: string, limit: number): Promise<DeadLetter[]> {
    const taken = (await this.redis.eval(TAKE_OLDEST, 1, this.keys.receiptDeadLetters(appId), limit)) as string[];
    return taken.reverse().map((s) => JSON.parse(s) as DeadLetter);
  }
}
