import type { Redis } from 'ioredis';
import { filterOf } from '../domain/audience.js';
import { DeliveryState, isBroadcast, type MessagePriority, type MessageState, type MessageTarget, type StoredMessage, terminalStates } from '../domain/message.js';
import { decodeIntakeEntry, INTAKE_APP_LUA, intakeBucketOf, MATERIALISE_LUA, packedFields, packIntakeRecords, storedAsIntakeEntry } from './intake-entry.js';
import { pipelineReplies } from './redis.js';
import type { RedisKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import type { TurnPipeline } from './turn-pipeline.js';

/**
 * delivery_state_2 — one device's delivery of a message moved to a new state.
 * KEYS[1] message hash, KEYS[2] per-device trace hash (same {message} slot)
 * ARGV[1] device, ARGV[2] new state, ARGV[3] counter to increment ('' for none)
 * A terminal state is never left (a late re-send does not turn `delivered` back into
 * `sent`); a device absent from the trace is only counted, never added (the trace is
 * written at dispatch for small sends only). Nothing happens once the message is gone.
 * Returns 0 when nothing changed, else [app, callbackUrl or nil, campaign or nil]: the caller emits a
 * delivery event only for a change that counted (dispatch/delivery-events.ts).
 */
const SETTLE_LUA = `
local function settle(msg, trace, device, state, counter)
  if redis.call('EXISTS', msg) == 0 then return 0 end
  local cur = redis.call('HGET', trace, device)
  if cur == 'delivered' or cur == 'expired' or cur == 'dropped' or cur == 'failed' then return 0 end
  if cur then redis.call('HSET', trace, device, state) end
  if counter ~= '' then redis.call('HINCRBY', msg, counter, 1) end
  return redis.call('HMGET', msg, 'app', 'cb', 'cid')
end
`;
const DELIVERY_STATE_2 = new RedisScript('delivery_state_2', 2, `${SETTLE_LUA}
return settle(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
`);

/**
 * inbox_ack_n — a device ACKed ids: each one still in its inbox is removed AND recorded
 * delivered in the same script, so a dispatcher that dies in between cannot leave an ACK
 * taken out of the inbox but never counted (a repeated ACK finds nothing to remove and
 * counts nothing).
 * KEYS[1] the device's inbox, then per id its message hash and trace hash
 * ARGV[1] device, ARGV[2…] the ids, in KEYS order
 * Returns per id: 0 not in the inbox, 1 removed but not counted (gone, or already
 * terminal), else the [app, callbackUrl, campaign] of delivery_state_2.
 * numberOfKeys -1: 1 + 2 per id.
 */
const INBOX_ACK_N = new RedisScript('inbox_ack_n', -1, `${SETTLE_LUA}
local out = {}
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 0 then
    out[i - 1] = 0
  else
    local r = settle(KEYS[2 * i - 2], KEYS[2 * i - 1], ARGV[1], 'delivered', 'delivered')
    if r == 0 then out[i - 1] = 1 else out[i - 1] = r end
  end
end
return out
`);

/**
 * opened_3 — count an OPENED once per device, and only from a device of the message's app.
 * KEYS[1] message hash, KEYS[2] opened set, KEYS[3] trace hash; ARGV[1] device, ARGV[2] app
 * Returns 0 when not counted, else {callbackUrl, campaign id} ('' for none).
 */
const OPENED_3 = new RedisScript('opened_3', 3, `
if redis.call('HGET', KEYS[1], 'app') ~= ARGV[2] then return 0 end
local traced = redis.call('HGET', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 and not traced then return 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('PEXPIREAT', KEYS[2], redis.call('PEXPIRETIME', KEYS[1]))
redis.call('HINCRBY', KEYS[1], 'opened', 1)
return {redis.call('HGET', KEYS[1], 'cb') or '', redis.call('HGET', KEYS[1], 'cid') or ''}
`);

/**
 * cancel_2 — KEYS[1] message hash, KEYS[2] its intake bucket; ARGV[1] app, ARGV[2] the
 * message id. A scheduled message of the app becomes cancelled; returns cancelled |
 * not_found | too_late (a dispatcher has started it, or it was never scheduled: an intake
 * entry is an immediate message).
 */
const CANCEL_2 = new RedisScript('cancel_2', 2, `${INTAKE_APP_LUA}
local h = redis.call('HMGET', KEYS[1], 'app', 'state')
if not h[1] and intake_app(KEYS[2], ARGV[2]) == ARGV[1] then return 'too_late' end
if h[1] ~= ARGV[1] then return 'not_found' end
if h[2] == 'scheduled' then redis.call('HSET', KEYS[1], 'state', 'cancelled') return 'cancelled' end
if h[2] == 'cancelled' then return 'cancelled' end
return 'too_late'
`);

/**
 * start_dispatch_1 — KEYS[1] message hash. 0 for a cancelled or vanished message; else a
 * scheduled one becomes accepted (cancel now answers too_late) and 1.
 */
const START_DISPATCH_1 = new RedisScript('start_dispatch_1', 1, `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'cancelled' or state == 'revoked' then return 0 end
if state == 'scheduled' then redis.call('HSET', KEYS[1], 'state', 'accepted') end
return 1
`);

/**
 * fanout_3 — records one message's fan-out. KEYS[1] message hash, KEYS[2] its per-device
 * trace (same {message} slot), KEYS[3] the message's intake bucket; ARGV[1] now,
 * ARGV[2..4] targeted, failed, dropped, ARGV[5] the trace's expire-at, ARGV[6] the message
 * id, ARGV[7..] device/state pairs of the trace (none for a send too large to trace).
 * A message accepted as an intake entry becomes its hash here and the entry goes: from
 * now on every script finds the hash (intake-entry.ts). The dispatcher awaits this before
 * it writes the fan-out's inboxes, so a device that has the message in its inbox (and so
 * may ACK it) always finds the hash its ACK is counted in.
 * The first fan-out of a message sets its counters and returns 1; a re-run (its send job
 * ran again) returns 0 and leaves them, with what ACKs and drops added since, alone. A
 * trace entry is only ever added (HSETNX): a re-run does not move a device back. A
 * message gone meanwhile (no hash, and no entry or one past its expiry) is not re-created
 * as a stub without expiry: -1, and the caller writes no inbox for it.
 * One script per message, through the turn's pipeline, so the messages of a job share one
 * write instead of a MULTI each. The bucket is in another slot: standalone Redis, like
 * messages_create_n that wrote the entry.
 */
const FANOUT_3 = new RedisScript('fanout_3', 3, `${MATERIALISE_LUA}
if redis.call('EXISTS', KEYS[1]) == 0 then
  local entry = redis.call('HGET', KEYS[3], ARGV[6])
  if not entry then return -1 end
  -- An entry past its message's expiry is deleted, and stands for a message gone.
  local made = materialise(KEYS[1], entry)
  redis.call('HDEL', KEYS[3], ARGV[6])
  if not made then return -1 end
end
local first = 1
if redis.call('HSETNX', KEYS[1], 'fanout', ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'dispatched')
  first = 0
else
  redis.call('HSET', KEYS[1], 'targeted', ARGV[2], 'failed', ARGV[3], 'dropped', ARGV[4], 'state', 'dispatched')
end
if #ARGV > 6 then
  for i = 7, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('PEXPIREAT', KEYS[2], ARGV[5])
end
return first
`);

/**
 * pushed_1 — KEYS[1] message hash. Its fan-out handed every PUSH to the gateways: `pushed`
 * set (nothing done for a message gone meanwhile). The send outbox re-queues a
 * `dispatched` message only without it (dispatch/send-outbox.ts).
 */
const PUSHED_1 = new RedisScript('pushed_1', 1, `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'pushed', '1') end
return 0
`);

/**
 * messages_create_n — stores the messages of one intake batch, atomically with what must
 * commit with them.
 * KEYS[1] the send outbox, KEYS[2..n+1] the hashes of the messages stored as hashes,
 * then the b intake buckets of those stored as entries (intake-entry.ts), then the keys
 * of the extra writes.
 * ARGV[1] n, ARGV[2] 1 to put the messages in the outbox (0: a campaign's, sent by its
 * runner), ARGV[3] the number s of extra writes, ARGV[4] b; then
 * - for each extra write its value, TTL (ms) and holder: a SET (the idempotency record of
 *   the request that carried the messages), made only while the key still holds that
 *   holder's pending claim ('' for an unguarded write);
 * - for each hash in KEYS order: its id, expire-at (unix ms), the values of the fields app,
 *   to, ts, exp, frame, accepted, state, the number p of optional field/value pairs
 *   (collapse, sendAt, priority, cb, cid, filter) and those p pairs;
 * - for each bucket in KEYS order: its expire-at, and its entries packed into one value
 *   (intake-entry.ts, packIntakeRecords: per message its id, accept time and entry);
 * Returns the number of messages stored, or, when a guarded write's claim is no longer
 * held (its request stalled past the claim's life, and a retry may have taken the key),
 * the 1-based indices of those writes, having stored nothing.
 * One script call for the whole batch instead of HSET + PEXPIREAT per message: a MULTI of
 * 1,000 commands cost the API a command object, a QUEUED reply and a promise each, and
 * every argument its own serialization, field names included. Everything in one script
 * rather than a MULTI around it: EVALSHA can then be used (a NOSCRIPT fails the whole
 * call, which the TurnPipeline loads and retries), instead of sending the script's text
 * with every batch. Entries go in one HSET per bucket and one ZADD, in chunks that stay
 * within what Lua's unpack takes. It spans slots: standalone Redis.
 * numberOfKeys -1: 1 + n + b + s.
 */
const MESSAGES_CREATE_N = new RedisScript('messages_create_n', -1, `
local n, s, b = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4])
local outbox = ARGV[2] == '1'
local writes = #KEYS - s
-- Before anything is written: a request whose claim lapsed must store nothing.
local lost = {}
for j = 1, s do
  local holder = ARGV[4 + 3 * j]
  if holder ~= '' then
    local v = redis.call('GET', KEYS[writes + j])
    local ok, r = false, nil
    if v then ok, r = pcall(cjson.decode, v) end
    -- Holding this very answer already: this call ran before (a retry of a lost reply).
    local held = v == ARGV[2 + 3 * j] or (ok and type(r) == 'table' and r.state == 'pending' and r.owner == holder)
    if not held then lost[#lost + 1] = j end
  end
end
if #lost > 0 then return lost end
-- Lua's unpack takes a few thousand values: bulk commands go in chunks.
local CHUNK = 2000
local a = 5 + 3 * s
for i = 2, n + 1 do
  local p = tonumber(ARGV[a + 9])
  redis.call('HSET', KEYS[i], 'app', ARGV[a + 2], 'to', ARGV[a + 3], 'ts', ARGV[a + 4], 'exp', ARGV[a + 5],
    'frame', ARGV[a + 6], 'accepted', ARGV[a + 7], 'state', ARGV[a + 8])
  if p > 0 then redis.call('HSET', KEYS[i], unpack(ARGV, a + 10, a + 9 + 2 * p)) end
  redis.call('PEXPIREAT', KEYS[i], ARGV[a + 1])
  -- In the outbox until their send jobs are queued (or their fan-out is done): a message
  -- is never stored without being sent, whatever fails next (dispatch/send-outbox.ts).
  if outbox then redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a]) end
  a = a + 10 + 2 * p
end
local e = 0
local queued = {}
for i = n + 2, n + 1 + b do
  local at, records = tonumber(ARGV[a]), ARGV[a + 1]
  local fields = {}
  local pos, id, ts, entry = 1
  while pos <= #records do
    id, ts, entry, pos = struct.unpack('${packedFields(3)}', records, pos)
    fields[#fields + 1] = id
    fields[#fields + 1] = entry
    if outbox then queued[#queued + 1] = ts queued[#queued + 1] = id end
    if #fields >= CHUNK then redis.call('HSET', KEYS[i], unpack(fields)) fields = {} end
    if #queued >= CHUNK then redis.call('ZADD', KEYS[1], unpack(queued)) queued = {} end
    e = e + 1
  end
  if #fields > 0 then redis.call('HSET', KEYS[i], unpack(fields)) end
  -- -1 (no expiry yet) is below any time: a new bucket gets this one.
  if redis.call('PEXPIRETIME', KEYS[i]) < at then redis.call('PEXPIREAT', KEYS[i], at) end
  a = a + 2
end
if #queued > 0 then redis.call('ZADD', KEYS[1], unpack(queued)) end
for j = 1, s do
  redis.call('SET', KEYS[writes + j], ARGV[2 + 3 * j], 'PX', ARGV[3 + 3 * j])
end
return n + e
`);

export interface NewMessage extends StoredMessage {
  /** Number of targets the request named (devices, aliases or accounts). */
  readonly accepted: number;
  /** Dispatched at this time (unix ms) instead of at once; cancellable until then. */
  readonly sendAt?: number;
  readonly priority?: MessagePriority;
  /** The campaign the message belongs to (stored as `cid`). */
  readonly campaignId?: string;
}

/** A SET with a TTL committed atomically with a request's messages (its idempotency record). */
export interface TransactionWrite {
  readonly key: string;
  readonly value: string;
  readonly ttlMs: number;
  /**
   * The owner of the pending claim the key must still hold (idempotency-store.ts): if it
   * does not, neither this write nor any message of the batch is stored (create() says which).
   */
  readonly heldBy?: string;
}

/** What re-queueing a message from the outbox needs to know. */
export interface OutboxEntry {
  id: string;
  state: MessageState;
  /** A fan-out of the message handed its PUSHes to the gateways (pushed_1). */
  pushed: boolean;
  sendAt?: number;
  priority?: MessagePriority;
}

export interface MessageCounts {
  /** Broadcasts: devices the audience was estimated at when it was published. */
  targeted: number;
  /** Broadcasts only: PUSHes written (live fan-out and catch-up; a device may count twice). */
  sent?: number;
  delivered: number;
  opened: number;
  expired: number;
  dropped: number;
  failed: number;
}

export interface MessageTrace {
  id: string;
  state: MessageState;
  acceptedAt: number;
  expiresAt: number;
  /** For scheduled messages: when they are (or were) due. */
  sendAt?: number;
  counts: MessageCounts;
  /** Per-device states, for sends small enough to be traced device by device. */
  devices?: Record<string, DeliveryState>;
}

/** One message's fan-out as the dispatcher records it. */
export interface FanOut {
  message: StoredMessage;
  counts: { targeted: number; failed: number; dropped: number };
  /** First state of each device, for sends small enough to trace; null otherwise. */
  initial: ReadonlyMap<string, DeliveryState> | null;
}

/** Where the dispatcher records a device's delivery state change. */
export interface StateChange {
  messageId: string;
  deviceId: string;
  state: DeliveryState;
  /** Why a delivery was dropped: the device's inbox overflowed (the default) or a newer message with its collapse id took its place. */
  reason?: 'inbox_overflow' | 'replaced';
}

/** A state change that counted (the device's state really moved), with what events need of its message. */
export interface CountedChange extends StateChange {
  appId: string;
  callbackUrl?: string;
  campaignId?: string;
}

const counterOf: Partial<Record<DeliveryState, string>> = {
  delivered: 'delivered',
  dropped: 'dropped',
  failed: 'failed',
};

/**
 * Accepted messages: the body (its encoded PUSH frame) stored once with its TTL, the
 * counters the trace reports, and the per-device trace of small sends.
 */
export class MessageStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: TurnPipeline,
    /** How long a message's trace outlives its expiry. */
    private readonly traceRetentionMs: number,
  ) {}

  /**
   * Writes messages durably in one script call; the caller acknowledges after this
   * resolves. `alongside` are the caller's own writes, committed with them. Resolves to
   * the indices (in `alongside`) of guarded writes whose claim was no longer held, in
   * which case nothing at all was stored; empty when everything was.
   */
  async create(messages: readonly NewMessage[], alongside: readonly TransactionWrite[] = [], options: { outbox: boolean } = { outbox: true }): Promise<number[]> {
    if (messages.length === 0) return [];
    const hashes: NewMessage[] = [];
    const buckets = new Map<string, { expireAt: number; entries: NewMessage[] }>();
    for (const m of messages) {
      if (!storedAsIntakeEntry(m)) {
        hashes.push(m);
        continue;
      }
      const key = this.keys.intake(intakeBucketOf(m.id));
      const bucket = buckets.get(key) ?? { expireAt: 0, entries: [] };
      bucket.expireAt = Math.max(bucket.expireAt, m.exp + this.traceRetentionMs);
      bucket.entries.push(m);
      buckets.set(key, bucket);
    }
    const keys: string[] = [this.keys.sendOutbox()];
    const args: Array<string | number | Buffer> = [hashes.length, options.outbox ? 1 : 0, alongside.length, buckets.size];
    for (const w of alongside) args.push(w.value, w.ttlMs, w.heldBy ?? '');
    for (const m of hashes) {
      keys.push(this.keys.message(m.id));
      const optional: Array<string | number> = [];
      if (m.collapseId !== undefined) optional.push('collapse', m.collapseId);
      if (m.sendAt !== undefined) optional.push('sendAt', m.sendAt);
      if (m.priority !== undefined) optional.push('priority', m.priority);
      if (m.callbackUrl) optional.push('cb', m.callbackUrl);
      if (m.campaignId) optional.push('cid', m.campaignId);
      if (isBroadcast(m.target)) optional.push('filter', filterOf(m.target));
      args.push(
        m.id, m.exp + this.traceRetentionMs,
        m.appId, JSON.stringify(m.target), m.ts, m.exp, m.frame, m.accepted, m.sendAt === undefined ? 'accepted' : 'scheduled',
        optional.length / 2, ...optional,
      );
    }
    for (const [key, bucket] of buckets) {
      keys.push(key);
      args.push(bucket.expireAt, packIntakeRecords(bucket.entries, this.traceRetentionMs));
    }
    for (const w of alongside) keys.push(w.key);
    const reply = await this.scripts.run(MESSAGES_CREATE_N, keys, args);
    return Array.isArray(reply) ? reply.map((j) => Number(j) - 1) : [];
  }

  /** Their send jobs are queued (or their fan-out is done): out of the outbox. */
  async queued(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.zrem(this.keys.sendOutbox(), ...ids);
  }

  /** Their fan-out handed every PUSH to the gateways (pushed_1); one round trip per turn. */
  async pushed(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.scripts.run(PUSHED_1, [this.keys.message(id)], [])));
  }

  /** Outbox entries accepted before `before` (their job should long exist), oldest first. */
  async unqueued(before: number, limit: number): Promise<Array<OutboxEntry | { id: string; state: null }>> {
    const ids = await this.redis.zrangebyscore(this.keys.sendOutbox(), '-inf', before, 'LIMIT', 0, limit);
    const pipeline = this.redis.pipeline();
    // The intake entry first, as in read().
    for (const id of ids) {
      pipeline.hgetBuffer(this.keys.intake(intakeBucketOf(id)), id);
      pipeline.hmget(this.keys.message(id), 'state', 'sendAt', 'priority', 'pushed');
    }
    const rows = await pipelineReplies(pipeline, 2 * ids.length);
    return ids.map((id, i) => {
      const [state, sendAt, priority, pushed] = rows[2 * i + 1] as Array<string | null>;
      if (state === null) {
        const entry = rows[2 * i] as Buffer | null;
        const intake = entry ? decodeIntakeEntry(id, entry) : null;
        if (!intake) return { id, state: null };
        return { id, state: 'accepted', pushed: false, ...(intake.priority ? { priority: intake.priority } : {}) };
      }
      return {
        id, state: state as MessageState, pushed: pushed !== null,
        ...(sendAt ? { sendAt: Number(sendAt) } : {}), ...(priority ? { priority: priority as MessagePriority } : {}),
      };
    });
  }

  /**
   * Cancels a scheduled message of this app, deciding on the message itself against a
   * dispatcher starting it (loadForDispatch): whichever moves the state first wins.
   */
  async cancel(appId: string, messageId: string): Promise<'cancelled' | 'not_found' | 'too_late'> {
    return (await this.scripts.run(CANCEL_2, [this.keys.message(messageId), this.keys.intake(intakeBucketOf(messageId))], [appId, messageId])) as 'cancelled' | 'not_found' | 'too_late';
  }

  /**
   * Loads the messages of a send job and claims them for dispatch: a scheduled one
   * becomes `accepted` (no longer cancellable) through start_dispatch_1; cancelled ones,
   * and ones gone (trace retention passed), are left out. Only scheduled messages need
   * the script: an `accepted` one can no longer be cancelled (cancel_2 wants `scheduled`).
   */
  async loadForDispatch(ids: readonly string[]): Promise<{ messages: StoredMessage[]; gone: string[] }> {
    const rows = await this.read(ids, true);
    const claimed = await Promise.all(rows.map((r, i) =>
      r?.state === 'scheduled' ? this.scripts.run(START_DISPATCH_1, [this.keys.message(ids[i]!)], []) : Promise.resolve(r && r.state !== 'cancelled' && r.state !== 'revoked' ? 1 : 0)));
    const messages: StoredMessage[] = [];
    const gone: string[] = [];
    rows.forEach((r, i) => {
      if (!r) gone.push(ids[i]!);
      else if (claimed[i] === 1) messages.push(r.message);
    });
    return { messages, gone };
  }

  /** Loads messages for replay; missing ones (trace retention passed) are null. */
  async load(ids: readonly string[]): Promise<Array<StoredMessage | null>> {
    // Messages in inboxes: their fan-out made their hash before writing any inbox.
    return (await this.read(ids, false, false)).map((r) => r?.message ?? null);
  }

  /**
   * Reads messages from their hash or, with `entries`, from their intake entry when not
   * fanned out yet. The entry is read first: fanout_3 writes the hash before it deletes
   * the entry, in one script, so a message fanned out between the two reads is found in
   * one or the other.
   */
  private async read(ids: readonly string[], withState: boolean, entries = true): Promise<Array<{ message: StoredMessage; state: MessageState } | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    const fields = ['app', 'to', 'ts', 'exp', 'frame', 'collapse', 'cb', ...(withState ? ['state'] : [])];
    for (const id of ids) {
      if (entries) pipeline.hgetBuffer(this.keys.intake(intakeBucketOf(id)), id);
      pipeline.hmgetBuffer(this.keys.message(id), ...fields);
    }
    const per = entries ? 2 : 1;
    const rows = await pipelineReplies(pipeline, per * ids.length);
    const now = Date.now();
    return ids.map((id, i) => {
      const [app, to, ts, exp, frame, collapse, cb, state] = rows[per * i + per - 1] as Array<Buffer | null>;
      if (!app || !to || !ts || !exp || !frame) {
        const entry = entries ? (rows[per * i] as Buffer | null) : null;
        const intake = entry ? decodeIntakeEntry(id, entry, now) : null;
        return intake && { message: intake.message, state: 'accepted' };
      }
      const message: StoredMessage = {
        id, appId: app.toString(), target: JSON.parse(to.toString()) as MessageTarget, ts: Number(ts.toString()), exp: Number(exp.toString()), frame,
        ...(collapse ? { collapseId: collapse.toString() } : {}),
        ...(cb ? { callbackUrl: cb.toString() } : {}),
      };
      return { message, state: (state?.toString() ?? 'accepted') as MessageState };
    });
  }

  /**
   * Records the fan-out of messages (a fanout_3 call each, one pipeline per turn): how many
   * devices each targets, and for small sends each device's first state. Idempotent (a
   * re-run job writes the same values). Returns the ids fanned out for the first time
   * (only those emit the events of the fan-out, so a re-run job does not count them twice)
   * and those of messages gone meanwhile (no inbox may get them: an ACK of one would count
   * nowhere).
   */
  async dispatched(fanOuts: readonly FanOut[]): Promise<{ first: Set<string>; gone: Set<string> }> {
    const now = Date.now();
    const results = await Promise.all(fanOuts.map(({ message: m, counts, initial }) => {
      const trace: Array<string | number> = [];
      for (const [device, state] of initial ?? []) trace.push(device, state);
      return this.scripts.run(
        FANOUT_3,
        [this.keys.message(m.id), this.keys.messageDevices(m.id), this.keys.intake(intakeBucketOf(m.id))],
        [now, counts.targeted, counts.failed, counts.dropped, m.exp + this.traceRetentionMs, m.id, ...trace],
      );
    }));
    const idsWhere = (value: number) => new Set(fanOuts.flatMap((f, i) => (results[i] === value ? [f.message.id] : [])));
    return { first: idsWhere(1), gone: idsWhere(-1) };
  }

  /**
   * Applies state changes (ACKs, drops, sends), batched into one round trip per turn.
   * Returns the changes that counted (a terminal state is entered once per device).
   */
  async record(changes: readonly StateChange[]): Promise<CountedChange[]> {
    const results = await Promise.all(
      changes.map((c) =>
        this.scripts.run(DELIVERY_STATE_2, [this.keys.message(c.messageId), this.keys.messageDevices(c.messageId)], [c.deviceId, c.state, counterOf[c.state] ?? '']),
      ),
    );
    return results.flatMap((r, i) => countedChange(changes[i]!, r) ?? []);
  }

  /**
   * A device's ACK of unicast ids: those still in its inbox leave it and are recorded
   * delivered in one script (INBOX_ACK_N). Returns the changes that counted and the ids
   * that were not in the inbox (a broadcast, or a repeated ACK).
   */
  async acked(deviceId: string, ids: readonly string[]): Promise<{ counted: CountedChange[]; notInInbox: string[] }> {
    if (ids.length === 0) return { counted: [], notInInbox: [] };
    const keys = [this.keys.inbox(deviceId)];
    for (const id of ids) keys.push(this.keys.message(id), this.keys.messageDevices(id));
    const results = (await this.scripts.run(INBOX_ACK_N, keys, [deviceId, ...ids])) as unknown[];
    const counted: CountedChange[] = [];
    const notInInbox: string[] = [];
    ids.forEach((messageId, i) => {
      const r = results[i];
      if (r === 0) notInInbox.push(messageId);
      const change = countedChange({ messageId, deviceId, state: DeliveryState.DELIVERED }, r);
      if (change) counted.push(change);
    });
    return { counted, notInInbox };
  }

  /** Counts an OPENED once per device; null when it did not count, else the message's callbackUrl and campaign ('' for none). */
  async opened(appId: string, deviceId: string, messageId: string): Promise<{ callbackUrl: string; campaignId: string } | null> {
    const counted = await this.scripts.run(
      OPENED_3,
      [this.keys.message(messageId), this.keys.messageOpened(messageId), this.keys.messageDevices(messageId)],
      [deviceId, appId],
    );
    return Array.isArray(counted) ? { callbackUrl: String(counted[0]), campaignId: String(counted[1]) } : null;
  }

  /** Devices of a traced message not yet in a terminal state (empty for an untraced one). */
  async unsettledDevices(messageId: string): Promise<string[]> {
    const trace = await this.redis.hgetall(this.keys.messageDevices(messageId));
    return Object.entries(trace).filter(([, s]) => !terminalStates.has(s as DeliveryState)).map(([d]) => d);
  }

  /** Whether each message has been fanned out by a dispatcher (its send job ran). */
  async fannedOut(ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hexists(this.keys.message(id), 'fanout');
    return (await pipelineReplies(pipeline, ids.length)).map((v) => v === 1);
  }

  /**
   * The counters of many messages of an app (a campaign's chunks), one pipeline of small
   * HMGETs: none of the frame or per-device trace a full trace reads. Null for a message
   * gone or of another app.
   */
  async counts(appId: string, ids: readonly string[], now = Date.now()): Promise<Array<MessageCounts | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.message(id), ...COUNT_FIELDS);
    const rows = (await pipelineReplies(pipeline, ids.length)) as Array<Array<string | null>>;
    return rows.map((row) => {
      const h = Object.fromEntries(COUNT_FIELDS.map((f, k) => [f, row[k] ?? undefined]));
      return h['app'] === appId ? countsOf(h, now) : null;
    });
  }

  /**
   * The trace of a message of this app, or null — also for another app's message, so
   * ids of other tenants cannot be probed. Expired is derived: after the expiry every
   * device not in a terminal state counts as expired.
   */
  async trace(appId: string, messageId: string, now = Date.now()): Promise<MessageTrace | null> {
    const [[e0, entry], [e1, hash], [e2, d]] = (await this.redis
      .multi()
      .hgetBuffer(this.keys.intake(intakeBucketOf(messageId)), messageId)
      .hgetall(this.keys.message(messageId))
      .hgetall(this.keys.messageDevices(messageId))
      .exec()) as [[Error | null, Buffer | null], [Error | null, Record<string, string>], [Error | null, Record<string, string>]];
    if (e0 || e1 || e2) throw e0 ?? e1 ?? e2;
    const h = hash['app'] === undefined && entry ? hashOfEntry(messageId, entry, now) : hash;
    if (h['app'] !== appId) return null;
    const num = (k: string) => Number(h[k] ?? 0);
    const exp = num('exp');
    const over = now > exp;
    const counts = countsOf(h, now);
    const settled = counts.delivered + counts.dropped + counts.failed;
    const stored = h['state'] as MessageState | undefined;
    let state: MessageState = stored === 'dispatched' || stored === 'scheduled' || stored === 'cancelled' || stored === 'revoked' ? stored : 'accepted';
    const broadcast = h['filter'] !== undefined;
    // A broadcast's audience is an estimate and devices keep coming online: it is under way until it expires.
    if (state === 'dispatched' && !broadcast && settled >= counts.targeted) state = 'completed';
    else if (over && state !== 'cancelled' && state !== 'revoked') state = 'expired';
    if (broadcast) counts.sent = num('sent');
    const trace: MessageTrace = { id: messageId, state, acceptedAt: num('ts'), expiresAt: exp, counts };
    if (h['sendAt']) trace.sendAt = num('sendAt');
    if (Object.keys(d).length > 0) {
      const devices: Record<string, DeliveryState> = {};
      for (const [device, s] of Object.entries(d)) {
        const st = s as DeliveryState;
        devices[device] = over && !terminalStates.has(st) ? DeliveryState.EXPIRED : st;
      }
      trace.devices = devices;
    }
    return trace;
  }
}

/** A state change as settle() answered it: null when it did not count, else with its app, receipts URL and campaign. */
function countedChange(change: StateChange, reply: unknown): CountedChange | null {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') return null;
  const [appId, cb, cid] = reply as [string, unknown, unknown];
  return { ...change, appId, ...(typeof cb === 'string' && cb ? { callbackUrl: cb } : {}), ...(typeof cid === 'string' && cid ? { campaignId: cid } : {}) };
}

/** What the trace reads of a message not fanned out yet: the fields of its hash-to-be. */
function hashOfEntry(id: string, entry: Buffer, now: number): Record<string, string> {
  const intake = decodeIntakeEntry(id, entry, now);
  if (!intake) return {};
  const { message: m } = intake;
  return { app: m.appId, ts: String(m.ts), exp: String(m.exp), state: 'accepted' };
}

const COUNT_FIELDS = ['app', 'exp', 'targeted', 'delivered', 'opened', 'dropped', 'failed'] as const;

/** A message's counters from its hash; past its expiry, devices not settled count as expired. */
function countsOf(h: Record<string, string | undefined>, now: number): MessageCounts {
  const num = (k: string) => Number(h[k] ?? 0);
  const counts: MessageCounts = {
    targeted: num('targeted'), delivered: num('delivered'), opened: num('opened'), expired: 0, dropped: num('dropped'), failed: num('failed'),
  };
  if (now > num('exp')) counts.expired = Math.max(0, counts.targeted - counts.delivered - counts.dropped - counts.failed);
  return counts;
}
