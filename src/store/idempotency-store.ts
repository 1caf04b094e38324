import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';
import type { TransactionWrite } from './message-store.js';

/** What an Idempotency-Key remembers: the request's fingerprint and, once done, its answer. */
export type IdempotencyRecord =
  | { state: 'pending'; fp: string }
  | { state: 'done'; fp: string; status: number; body: unknown; location?: string };

export interface IdempotencyTtls {
  /** How long an accepted request's answer is replayed (24 h). */
  doneMs: number;
  /** How long a claim lasts without an answer: bounds the wait after a crash mid-request. */
  pendingMs: number;
}

/** Compare-and-delete: drop a claim only while it is still pending (never a stored answer). */
const RELEASE = "local v = redis.call('GET', KEYS[1]) if v and cjson.decode(v).state == 'pending' then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * Idempotency-Key records of app-server requests. A request claims its key (SET NX);
 * its answer is written in the same transaction as the messages it stored, so the answer
 * exists exactly when the messages do, even if the reply to the client is lost.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttls: IdempotencyTtls,
  ) {}

  /** Claims the key for this request, or returns what an earlier request left there. */
  async claim(appId: string, key: string, fp: string): Promise<IdempotencyRecord | null> {
    const redisKey = this.redisKey(appId, key);
    const pending: IdempotencyRecord = { state: 'pending', fp };
    const claimed = await this.redis.set(redisKey, JSON.stringify(pending), 'PX', this.ttls.pendingMs, 'NX');
    if (claimed === 'OK') return null;
    const existing = await this.redis.get(redisKey);
    // Gone between the two calls (released or lapsed): the caller may claim again.
    return existing === null ? this.claim(appId, key, fp) : (JSON.parse(existing) as IdempotencyRecord);
  }

  /** The answer, as a write inside the transaction that stores the request's messages. */
  answerWrite(appId: string, key: string, fp: string, answer: { status: number; body: unknown; location?: string }): TransactionWrite {
    const redisKey = this.redisKey(appId, key);
    const record: IdempotencyRecord = { state: 'done', fp, ...answer };
    return {
      write: (multi) => {
        multi.set(redisKey, JSON.stringify(record), 'PX', this.ttls.doneMs);
      },
    };
  }

  /** Releases a claim whose request failed before storing anything. */
  async release(appId: string, key: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.redisKey(appId, key));
  }

  private redisKey(appId: string, key: string): string {
    return this.keys.idempotency(appId, createHash('sha256').update(key).digest('hex'));
  }
}
