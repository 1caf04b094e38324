import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';
import type { TransactionWrite } from './message-store.js';

/** What an Idempotency-Key remembers: the request's fingerprint and, once done, its answer. */
export type IdempotencyRecord =
  /** `owner`: the claiming request's token, so only it renews the claim. */
  | { state: 'pending'; fp: string; owner?: string }
  | { state: 'done'; fp: string; status: number; body: unknown; location?: string };

export interface IdempotencyTtls {
  /** How long an accepted request's answer is replayed (24 h). */
  doneMs: number;
  /**
   * How long a claim lasts unless its request renews it (every third of this while it
   * runs): after an API process dies mid-request, its keys are free again within this.
   */
  pendingMs: number;
}

/** Compare-and-delete: drop a claim only while it is pending and still this request's (never a stored answer). */
const RELEASE = "local v = redis.call('GET', KEYS[1]) if v then local r = cjson.decode(v) if r.state == 'pending' and r.owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end end return 0";

/** Extends a claim while it is pending and still held by the same request. */
const RENEW = "local v = redis.call('GET', KEYS[1]) if v then local r = cjson.decode(v) if r.state == 'pending' and r.owner == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end end return 0";

/** A request's hold on its key: renew it while the request runs. */
export interface IdempotencyClaim {
  renew(): Promise<void>;
  /** Gives the key up: the request failed before storing anything. */
  release(): Promise<void>;
  /** How often to renew: a third of the claim's life, so one late renewal does not lose it. */
  readonly renewEveryMs: number;
  /** This request's token in the claim: its answer is stored only while the claim is still its own. */
  readonly owner: string;
}

/**
 * Idempotency-Key records of app-server requests. A request claims its key (SET NX);
 * its answer is written in the same transaction as the messages it stored, so the answer
 * exists exactly when the messages do, even if the reply to the client is lost; and that
 * transaction stores nothing once the claim is no longer the request's own.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttls: IdempotencyTtls,
  ) {}

  /**
   * Claims the key for this request (`claimed`), or returns what an earlier request left
   * there (`earlier`). A claim lapses after `pendingMs` unless renewed.
   */
  async claim(appId: string, key: string, fp: string): Promise<{ claimed: IdempotencyClaim } | { earlier: IdempotencyRecord }> {
    const redisKey = this.redisKey(appId, key);
    const owner = randomBytes(12).toString('base64url');
    const pending: IdempotencyRecord = { state: 'pending', fp, owner };
    const ok = await this.redis.set(redisKey, JSON.stringify(pending), 'PX', this.ttls.pendingMs, 'NX');
    if (ok === 'OK') {
      return {
        claimed: {
          owner,
          renewEveryMs: Math.floor(this.ttls.pendingMs / 3),
          renew: async () => {
            await this.redis.eval(RENEW, 1, redisKey, owner, this.ttls.pendingMs);
          },
          release: async () => {
            await this.redis.eval(RELEASE, 1, redisKey, owner);
          },
        },
      };
    }
    const existing = await this.redis.get(redisKey);
    // Gone between the two calls (released or lapsed): the caller may claim again.
    return existing === null ? this.claim(appId, key, fp) : { earlier: JSON.parse(existing) as IdempotencyRecord };
  }

  /**
   * The answer, as a write committed with the request's messages, and only while the
   * claim is still this request's: a request that stalled past its claim's life (a retry
   * may hold the key by then) stores nothing (MessageStore.create).
   */
  answerWrite(appId: string, key: string, fp: string, answer: { status: number; body: unknown; location?: string }, claim: Pick<IdempotencyClaim, 'owner'>): TransactionWrite {
    const redisKey = this.redisKey(appId, key);
    const record: IdempotencyRecord = { state: 'done', fp, ...answer };
    return { key: redisKey, value: JSON.stringify(record), ttlMs: this.ttls.doneMs, heldBy: claim.owner };
  }

  private redisKey(appId: string, key: string): string {
    return this.keys.idempotency(appId, createHash('sha256').update(key).digest('hex'));
  }
}
