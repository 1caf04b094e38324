import type { Redis } from 'ioredis';
import { INTAKE_APP_LUA, intakeBucketOf } from './intake-entry.js';
import { pipelineReplies } from './redis.js';
import type { RedisKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import type { TurnPipeline } from './turn-pipeline.js';

/**
 * log_append_3 — KEYS[1] log hash, KEYS[2] log entries, KEYS[3] unsettled entries, KEYS[4]
 * overtaken-while-publishing ids, KEYS[5] unsettled entries by expiry (same {app} slot);
 * ARGV[1] message id, ARGV[2] retention cap, ARGV[3] message expiry, ARGV[4] now (unix ms).
 * Appends the message once and returns its seq; a message already in the log returns the
 * seq it got (a send job run again after its dispatcher died). Entries beyond the cap go,
 * oldest first, and `trimmed` remembers the highest seq dropped that way.
 * A new entry is unsettled while it is being published (score +inf: keys.appLogUnsettled).
 * An overtaken entry whose score is below `trimmed` goes (every device it could matter to
 * gets RESYNC); one still at +inf stays, its publish may still be running. Entries whose
 * message expired go whatever their score: nobody is sent them any more (a publish that
 * never completed, a job that gave up).
 */
const LOG_APPEND_3 = new RedisScript('log_append_3', 5, `
local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[4])
for i = 1, #expired do
  redis.call('ZREM', KEYS[3], expired[i])
  redis.call('SREM', KEYS[4], expired[i])
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[4]) end
local had = redis.call('ZSCORE', KEYS[2], ARGV[1])
if had then return tonumber(had) end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[3], '+inf', ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if over > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], 0, over - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HSET', KEYS[1], 'trimmed', gone[#gone])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. gone[#gone])
end
return seq
`);

/**
 * log_settle_1 — KEYS[1] log hash, KEYS[2] unsettled entries, KEYS[3] overtaken-while-
 * publishing ids, KEYS[4] unsettled entries by expiry (kept: a mark racing this settle
 * finds the entry there, log_overtaken_1; expiry or a revoke removes it); ARGV[1] message id.
 * The entry's last audience slice is published on every gateway. Published in order, it
 * is settled (catch-up trusts cursors for it again). Overtaken while being published, it
 * stays unsettled with score H = the head seq now: a device that passed it has a cursor
 * in (its seq, H], so catch-up checks it only for such cursors. Returns 1 when settled.
 */
const LOG_SETTLE_1 = new RedisScript('log_settle_1', 4, `
if redis.call('ZSCORE', KEYS[2], ARGV[1]) ~= 'inf' then return 0 end
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'seq'), ARGV[1])
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`);

/**
 * log_overtaken_1 — KEYS[1] log hash, KEYS[2] unsettled entries, KEYS[3] overtaken-while-
 * publishing ids, KEYS[4] unsettled entries by expiry; ARGV ids.
 * A device may have passed these entries before getting them (a gateway got one after a
 * later seq; a catch-up moved a device past one not recorded yet). One still being
 * published is remembered for its settle; one already settled, or overtaken before,
 * gets score max(its score, the head seq now).
 */
const LOG_OVERTAKEN_1 = new RedisScript('log_overtaken_1', 4, `
local head = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
for i = 1, #ARGV do
  local cur = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if cur == 'inf' then
    redis.call('SADD', KEYS[3], ARGV[i])
  elseif cur and tonumber(cur) < head then
    redis.call('ZADD', KEYS[2], head, ARGV[i])
  elseif not cur and redis.call('ZSCORE', KEYS[4], ARGV[i]) then
    -- settled a moment ago (the mark raced the settle): back, while its message lives
    redis.call('ZADD', KEYS[2], head, ARGV[i])
  end
end
return 0
`);

/**
 * log_ack_2 — KEYS[1] message hash, KEYS[2] its ACK bitmap (same {message} slot);
 * ARGV[1] app of the reporting devices, ARGV[2..] their device numbers.
 * Counts each device's first ACK of a broadcast once. Returns 0 for a message that is not
 * a published broadcast of that app (a unicast id, a stale id), else {counted, campaign id or ''}.
 */
const LOG_ACK_2 = new RedisScript('log_ack_2', 2, `
local h = redis.call('HMGET', KEYS[1], 'app', 'seq', 'cid')
if h[1] ~= ARGV[1] or not h[2] then return 0 end
local n = 0
for i = 2, #ARGV do
  if redis.call('SETBIT', KEYS[2], ARGV[i], 1) == 0 then n = n + 1 end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'delivered', n)
  redis.call('PEXPIREAT', KEYS[2], redis.call('PEXPIRETIME', KEYS[1]))
end
return {n, h[3] or ''}
`);

/**
 * revoke_2 — KEYS[1] message hash, KEYS[2] its intake bucket; ARGV[1] app, ARGV[2] the
 * message id.
 * A broadcast of the app that is not sent yet is cancelled; one being or already sent is
 * revoked (catch-up skips it, gateways stop re-sending it). Returns the outcome; a unicast
 * message not fanned out yet (an intake entry, store/intake-entry.ts) is not_broadcast.
 */
const REVOKE_2 = new RedisScript('revoke_2', 2, `${INTAKE_APP_LUA}
local h = redis.call('HMGET', KEYS[1], 'app', 'state', 'filter')
if not h[1] and intake_app(KEYS[2], ARGV[2]) == ARGV[1] then return 'not_broadcast' end
if h[1] ~= ARGV[1] then return 'not_found' end
if not h[3] then return 'not_broadcast' end
if h[2] == 'revoked' or h[2] == 'cancelled' then return h[2] end
if h[2] == 'scheduled' then redis.call('HSET', KEYS[1], 'state', 'cancelled') return 'cancelled' end
redis.call('HSET', KEYS[1], 'state', 'revoked')
return 'revoked'
`);

/**
 * Counts one publish of a broadcast slice on one gateway, once: a publish retried (its
 * first call timed out while the gateway did the work, or another gateway failed the
 * job) reports the sessions the slice covers there again, and must not add them twice.
 * The marker lives in the message hash and expires with it.
 */
const COUNT_PUBLISH_1 = new RedisScript('count_publish_1', 1, `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'sent', ARGV[2])
return 1
`);

export type RevokeOutcome = 'revoked' | 'cancelled' | 'not_found' | 'not_broadcast';

/** Where an app's log stands. */
export interface LogHead {
  /** Highest seq issued (0: nothing ever published). */
  seq: number;
  /** Highest seq dropped by the retention cap (0: none). */
  trimmed: number;
  /** Broadcasts of the app still releasing their audience (paced campaigns). */
  paced: string[];
  /**
   * Broadcasts of the app a device's cursor may have passed without it getting them
   * (keys.appLogUnsettled), each with the highest cursor it matters to (Infinity while
   * it is being published).
   */
  unsettled: Map<string, number>;
}

/** A retained log entry as the catch-up path needs it (from the message hash). */
export interface LogEntryInfo {
  id: string;
  appId: string;
  seq: number;
  /** Accepted at (unix ms): a device without a cursor gets entries accepted after it registered. */
  ts: number;
  exp: number;
  /** The PUSH frame with `log` and `seq`. */
  frame: Buffer;
  filter: string;
  /** Audience buckets released so far (paced campaigns); AUDIENCE_BUCKETS when all. */
  released: number;
  revoked: boolean;
  campaignId?: string;
}

/** A broadcast as it is published: what the message hash records for catch-up and tracing. */
export interface PublishedBroadcast {
  id: string;
  seq: number;
  frame: Buffer;
  filter: string;
  released: number;
  /** Audience estimate at publish time (the trace's `targeted`). */
  targeted: number;
  /** Gateways live when it was appended: one gone by its settle may have passed it (Broadcaster.publish). */
  gateways: readonly string[];
}

/**
 * The read-diffusion store (docs/architecture.md, "Broadcasts"): per app one log of
 * broadcast message ids, numbered by seq and capped; the message itself stays in its
 * message hash with its TTL. A broadcast costs O(1) storage whatever its audience, plus
 * one bit per device that ACKs it.
 */
export class BroadcastLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: TurnPipeline,
    /** Entries kept per app; a device that missed more gets RESYNC cursor_gone. */
    readonly maxEntries: number,
  ) {}

  async append(appId: string, messageId: string, expiresAt: number): Promise<number> {
    const k = this.keys;
    const keys = [k.appLog(appId), k.appLogEntries(appId), k.appLogUnsettled(appId), k.appLogOvertaken(appId), k.appLogUnsettledExpiry(appId)];
    return Number(await this.scripts.run(LOG_APPEND_3, keys, [messageId, this.maxEntries, expiresAt, Date.now()]));
  }

  /** The keys of an app's unsettled entries, as the settle and overtaken scripts take them. */
  private unsettledKeys(appId: string): string[] {
    return [this.keys.appLog(appId), this.keys.appLogUnsettled(appId), this.keys.appLogOvertaken(appId), this.keys.appLogUnsettledExpiry(appId)];
  }

  /**
   * The broadcast's last slice was published on every live gateway: settled if no device
   * can have passed it (LOG_SETTLE_1), else kept for the cursors it can matter to.
   */
  async settle(appId: string, messageId: string): Promise<void> {
    await this.scripts.run(LOG_SETTLE_1, this.unsettledKeys(appId), [messageId]);
  }

  /** A device may have passed these broadcasts before getting them (LOG_OVERTAKEN_1). */
  async markOvertaken(appId: string, messageIds: readonly string[]): Promise<void> {
    if (messageIds.length > 0) await this.scripts.run(LOG_OVERTAKEN_1, this.unsettledKeys(appId), messageIds);
  }

  /** The broadcast was revoked: catch-up never sends it again. */
  async forget(appId: string, messageId: string): Promise<void> {
    await this.redis.multi()
      .zrem(this.keys.appLogUnsettled(appId), messageId)
      .srem(this.keys.appLogOvertaken(appId), messageId)
      .zrem(this.keys.appLogUnsettledExpiry(appId), messageId)
      .exec();
  }

  /** Records a publish in the message hash; `targeted` only the first time. */
  async published(b: PublishedBroadcast): Promise<void> {
    const key = this.keys.message(b.id);
    await this.redis.multi()
      .hset(key, 'seq', b.seq, 'lframe', b.frame, 'filter', b.filter, 'released', b.released)
      .hsetnx(key, 'targeted', b.targeted)
      .hsetnx(key, 'fanout', Date.now())
      .hsetnx(key, 'gws', b.gateways.join(' '))
      .eval("if redis.call('HGET', KEYS[1], 'state') == 'accepted' then redis.call('HSET', KEYS[1], 'state', 'dispatched') end return 0", 1, key)
      .exec();
  }

  /** The gateways live when the broadcast was appended (PublishedBroadcast.gateways). */
  async gatewaysAtAppend(messageId: string): Promise<string[]> {
    const gws = await this.redis.hget(this.keys.message(messageId), 'gws');
    return gws ? gws.split(' ') : [];
  }

  /** A paced campaign released more of its audience. */
  async release(messageId: string, buckets: number): Promise<void> {
    await this.redis.hset(this.keys.message(messageId), 'released', buckets);
  }

  /**
   * A publish of `messageId`'s buckets [from, to) on `gatewayId` was answered: it reached
   * `sessions` sessions, added to `sent` the first time only (COUNT_PUBLISH_1). The marker
   * also tells a retried job that this gateway has the slice (publishedOn).
   */
  async countPublished(messageId: string, gatewayId: string, buckets: readonly [number, number], sessions: number): Promise<void> {
    await this.scripts.run(COUNT_PUBLISH_1, [this.keys.message(messageId)], [publishMarker(gatewayId, buckets), sessions]);
  }

  /** Of `gatewayIds`, those that answered a publish of this slice of the message already. */
  async publishedOn(messageId: string, buckets: readonly [number, number], gatewayIds: readonly string[]): Promise<Set<string>> {
    if (gatewayIds.length === 0) return new Set();
    const markers = await this.redis.hmget(this.keys.message(messageId), ...gatewayIds.map((g) => publishMarker(g, buckets)));
    return new Set(gatewayIds.filter((_, i) => markers[i] !== null));
  }

  /** PUSHes written to devices for a broadcast by catch-up. */
  async countSent(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [id, n] of counts) if (n > 0) pipeline.hincrby(this.keys.message(id), 'sent', n);
    await pipeline.exec();
  }

  /** Heads of apps' logs, their paced and unsettled broadcasts, one round trip for a whole report. */
  async heads(appIds: readonly string[]): Promise<Map<string, LogHead>> {
    const out = new Map<string, LogHead>();
    if (appIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const app of appIds) {
      pipeline.hmget(this.keys.appLog(app), 'seq', 'trimmed').smembers(this.keys.appLogPaced(app)).zrange(this.keys.appLogUnsettled(app), 0, -1, 'WITHSCORES');
    }
    const rows = await pipelineReplies(pipeline, 3 * appIds.length);
    appIds.forEach((app, i) => {
      const [seq, trimmed] = rows[3 * i] as Array<string | null>;
      const flat = rows[3 * i + 2] as string[];
      const unsettled = new Map<string, number>();
      for (let j = 0; j + 1 < flat.length; j += 2) unsettled.set(flat[j]!, flat[j + 1] === 'inf' ? Infinity : Number(flat[j + 1]));
      out.set(app, { seq: Number(seq ?? 0), trimmed: Number(trimmed ?? 0), paced: rows[3 * i + 1] as string[], unsettled });
    });
    return out;
  }

  /**
   * The newest `limit` entries with `after` < seq ≤ `upTo` (after: all retained when null),
   * oldest first, and whether older ones past `after` were left out. Catch-up reads up to
   * the head it read the unsettled entries with: an entry appended since is not in its
   * view, and its CURSOR must not pass it.
   */
  async after(appId: string, after: number | null, upTo: number, limit: number): Promise<{ ids: string[]; seqs: number[]; more: boolean }> {
    const flat = await this.redis.zrevrangebyscore(this.keys.appLogEntries(appId), upTo, after === null ? '-inf' : `(${after}`, 'WITHSCORES', 'LIMIT', 0, limit + 1);
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i + 1 < flat.length && ids.length < limit; i += 2) {
      ids.push(flat[i]!);
      seqs.push(Number(flat[i + 1]));
    }
    return { ids: ids.reverse(), seqs: seqs.reverse(), more: flat.length > 2 * limit };
  }

  /** Whether the device (by number) has ACKed each of these broadcasts. */
  async ackedBy(messageIds: readonly string[], deviceNo: number): Promise<boolean[]> {
    if (messageIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of messageIds) pipeline.getbit(this.keys.messageAcked(id), deviceNo);
    return (await pipelineReplies(pipeline, messageIds.length)).map((bit) => bit === 1);
  }

  /** A paced broadcast starts or stops releasing its audience. */
  async setPaced(appId: string, messageId: string, paced: boolean): Promise<void> {
    if (paced) await this.redis.sadd(this.keys.appLogPaced(appId), messageId);
    else await this.redis.srem(this.keys.appLogPaced(appId), messageId);
  }

  async entries(ids: readonly string[]): Promise<Array<LogEntryInfo | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmgetBuffer(this.keys.message(id), 'app', 'seq', 'ts', 'exp', 'lframe', 'filter', 'released', 'state', 'cid');
    const rows = await pipelineReplies(pipeline, ids.length);
    return ids.map((id, i) => {
      const [app, seq, ts, exp, frame, filter, released, state, cid] = rows[i] as Array<Buffer | null>;
      if (!app || !seq || !ts || !exp || !frame || !filter) return null;
      const info: LogEntryInfo = {
        id, appId: app.toString(), seq: Number(seq.toString()), ts: Number(ts.toString()), exp: Number(exp.toString()), frame,
        filter: filter.toString(), released: Number(released?.toString() ?? 0), revoked: state?.toString() === 'revoked',
      };
      if (cid) info.campaignId = cid.toString();
      return info;
    });
  }

  /** Counts ACKs of a broadcast by device number; null when the id is not a broadcast of this app. */
  async acked(messageId: string, appId: string, deviceNos: readonly number[]): Promise<{ counted: number; campaignId?: string } | null> {
    const r = await this.scripts.run(LOG_ACK_2, [this.keys.message(messageId), this.keys.messageAcked(messageId)], [appId, ...deviceNos]);
    if (!Array.isArray(r)) return null;
    const [counted, cid] = r as [number, string];
    return cid ? { counted, campaignId: cid } : { counted };
  }

  async revoke(appId: string, messageId: string): Promise<RevokeOutcome> {
    const outcome = (await this.scripts.run(REVOKE_2, [this.keys.message(messageId), this.keys.intake(intakeBucketOf(messageId))], [appId, messageId])) as RevokeOutcome;
    if (outcome === 'revoked' || outcome === 'cancelled') await this.forget(appId, messageId);
    return outcome;
  }
}

/** The message-hash field that records a gateway's answer to a publish of a bucket slice. */
function publishMarker(gatewayId: string, [from, to]: readonly [number, number]): string {
  return `pub:${gatewayId}:${from}-${to}`;
}
