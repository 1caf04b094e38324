import type { MessagePriority, MessageTarget, StoredMessage } from '../domain/message.js';
import { isBroadcast, MESSAGE_ID_PATTERN } from '../domain/message.js';
import type { NewMessage } from './message-store.js';

/**
 * Intake entries: how an immediate unicast message is stored when it is accepted.
 *
 * A message hash (`msg:{id}`, keys.ts) costs Redis an HSET of seven fields, a PEXPIREAT
 * and their AOF records per message, and the API one serialized argument per field: at
 * 500-message batch requests that was ~20 µs of Redis and a third of the API's CPU per
 * message (docs/performance.md, issue #4). Instead, the messages of one intake flush are
 * written as one field each (the message's fields packed into one value) of a hash per
 * 32 ms of message ids, `intake:{bucket}`, with one HSET per bucket and one expiry.
 * The dispatcher's fan-out turns an entry into the message hash (fanout_3, in the same
 * script that records the fan-out) and deletes the entry; everything after the fan-out
 * (ACKs, OPENED, receipts, the trace's counters) finds the hash as before. Until then,
 * the readers that can meet a message first (the send job's load, the trace, the send
 * outbox, cancel and revoke) read the entry.
 *
 * Only messages whose id is a ULID made at accept time are written this way (the bucket
 * is found from the id alone); scheduled messages (cancellable, so claimed on the hash),
 * broadcasts (their log and publish markers live on the hash) and campaign chunks (ids
 * chosen by the runner) are written as hashes at once.
 */

/** Whether a message is stored as an intake entry rather than a hash. */
export function storedAsIntakeEntry(m: NewMessage): boolean {
  return m.sendAt === undefined && m.campaignId === undefined && !isBroadcast(m.target) && MESSAGE_ID_PATTERN.test(m.id);
}

/**
 * The bucket of a message id: its first 9 ULID characters (5 bits each, the first with 2
 * bits of padding), the top 43 bits of the 48-bit millisecond timestamp, so one bucket
 * spans 32 ms of accepts: at 50,000 messages/s about 1,600 entries, a few MB with small
 * payloads and a few tens of MB at the largest (4 KiB of data and a notification) should
 * no dispatcher drain it. An
 * intake flush (2 ms, longer under load) touches one or a few.
 */
export function intakeBucketOf(messageId: string): string {
  return messageId.slice(0, 9);
}

/** Entry fields, in the order writeEntry packs them (decodeIntakeEntry and the Lua below read them in it). */
const FIELDS = 10;
/** Position of expire-at among them (1-based, as Lua counts). */
const EXPIRE_AT_FIELD = 7;

/** The `struct` format of `n` length-prefixed fields, as every packed value here is laid out. */
export function packedFields(n: number): string {
  return `>${'I4c0'.repeat(n)}`;
}

/**
 * An entry's packed form: each field as a 4-byte big-endian length and its bytes, so that
 * a Lua script unpacks it with Redis's `struct` library (`>I4c0` per field) without
 * msgpack, whose Redis decoder knows no binary type. Numbers as decimal strings: the hash
 * made from the entry holds exactly what a hash written at accept would.
 *
 * The entries of one bucket travel as one value, each record its message id, accept time and
 * entry (all three length-prefixed like an entry's fields): messages_create_n splits it
 * with `struct.unpack`. One argument per bucket instead of four per message: ioredis
 * serializes each argument on its own (copying strings into buffers once a buffer is
 * among them), which had cost the API ~4 µs per message at 500-message batches.
 */
export function packIntakeRecords(messages: readonly NewMessage[], retentionMs: number): Buffer {
  const targets = messages.map((m) => JSON.stringify(m.target));
  let bound = 0;
  messages.forEach((m, i) => { bound += 8 + 3 * m.id.length + 20 + entryBound(m, targets[i]!, m.exp + retentionMs); });
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  messages.forEach((m, i) => {
    at = writeField(out, at, m.id);
    at = writeField(out, at, String(m.ts));
    const start = at;
    at = writeEntry(out, at + 4, m, targets[i]!, m.exp + retentionMs);
    out.writeUInt32BE(at - start - 4, start);
  });
  return out.subarray(0, at);
}

function writeEntry(out: Buffer, at: number, m: NewMessage, to: string, expireAt: number): number {
  at = writeField(out, at, m.appId);
  at = writeField(out, at, to);
  at = writeField(out, at, String(m.ts));
  at = writeField(out, at, String(m.exp));
  out.writeUInt32BE(m.frame.length, at);
  m.frame.copy(out, at + 4);
  at += 4 + m.frame.length;
  at = writeField(out, at, String(m.accepted));
  at = writeField(out, at, String(expireAt));
  at = writeField(out, at, m.collapseId ?? '');
  at = writeField(out, at, m.callbackUrl ?? '');
  return writeField(out, at, m.priority ?? '');
}

/**
 * A string field at `at`: its UTF-8 bytes after their 4-byte length. Returns the next
 * offset. ASCII (ids, numbers, most targets) is copied by hand: for strings this short,
 * Buffer#write's call into C++ cost twice the copy (~70 ns a field, 11 fields a message).
 */
function writeField(out: Buffer, at: number, value: string): number {
  const start = at + 4;
  let n = 0;
  for (; n < value.length; n++) {
    const c = value.charCodeAt(n);
    if (c > 0x7f) break;
    out[start + n] = c;
  }
  if (n < value.length) n += out.write(value.substring(n), start + n);
  out.writeUInt32BE(n, at);
  return start + n;
}

/**
 * At least the bytes of an entry, from string lengths (UTF-8 takes at most 3 bytes per
 * UTF-16 unit; numbers at most 20 characters), without encoding anything twice.
 */
function entryBound(m: NewMessage, to: string, expireAt: number): number {
  const text = m.appId.length + to.length + 20 + 20 + 20 + String(expireAt).length + (m.collapseId?.length ?? 0) + (m.callbackUrl?.length ?? 0) + (m.priority?.length ?? 0);
  return 4 * FIELDS + 3 * text + m.frame.length;
}

export interface IntakeEntry {
  message: StoredMessage;
  priority?: MessagePriority;
  /** When the message hash made from it would expire (exp + trace retention, unix ms). */
  expireAt: number;
}

/**
 * Reads a packed entry; null for one that is not in the packed form, or whose message
 * is past its expiry and trace retention (`now`): a bucket lives as long as its
 * longest-lived message, and an entry outliving its own would otherwise bring back a
 * message whose hash would be gone.
 */
export function decodeIntakeEntry(id: string, entry: Buffer, now = Date.now()): IntakeEntry | null {
  const fields: Buffer[] = [];
  let at = 0;
  while (at + 4 <= entry.length && fields.length < FIELDS) {
    const len = entry.readUInt32BE(at);
    if (at + 4 + len > entry.length) return null;
    fields.push(entry.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (fields.length !== FIELDS || at !== entry.length) return null;
  const [app, to, ts, exp, frame, , expireAt, collapse, cb, priority] = fields as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
  const until = Number(expireAt.toString());
  if (!(until > now)) return null;
  const message: StoredMessage = {
    id, appId: app.toString(), target: JSON.parse(to.toString()) as MessageTarget, ts: Number(ts.toString()), exp: Number(exp.toString()),
    // A copy: the entry's buffer (a whole reply) is not kept alive by the frame.
    frame: Buffer.from(frame),
    ...(collapse.length > 0 ? { collapseId: collapse.toString() } : {}),
    ...(cb.length > 0 ? { callbackUrl: cb.toString() } : {}),
  };
  return { message, expireAt: until, ...(priority.length > 0 ? { priority: priority.toString() as MessagePriority } : {}) };
}

/**
 * Lua: `redis_now()`, Redis's own clock in unix ms: what PEXPIREAT is judged by. An expiry
 * compared with a caller's clock could pass there and be in the past here.
 */
const REDIS_NOW_LUA = `
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Lua: `materialise(msg, entry)` writes the message hash an entry stands for, with the
 * expiry a hash written at accept would have had, and returns true; false (nothing
 * written) for an entry past that expiry, which stands for a message that is gone.
 */
export const MATERIALISE_LUA = `${REDIS_NOW_LUA}
local function materialise(msg, entry)
  local app, to, ts, exp, frame, accepted, expireAt, collapse, cb, priority =
    struct.unpack('${packedFields(FIELDS)}', entry)
  if tonumber(expireAt) <= redis_now() then return false end
  local f = {'app', app, 'to', to, 'ts', ts, 'exp', exp, 'frame', frame, 'accepted', accepted, 'state', 'accepted'}
  if collapse ~= '' then f[#f + 1] = 'collapse' f[#f + 1] = collapse end
  if cb ~= '' then f[#f + 1] = 'cb' f[#f + 1] = cb end
  if priority ~= '' then f[#f + 1] = 'priority' f[#f + 1] = priority end
  redis.call('HSET', msg, unpack(f))
  redis.call('PEXPIREAT', msg, expireAt)
  return true
end
`;

/**
 * Lua: `intake_app(bucket, id)`, the app of a message still an intake entry (and not past
 * its expiry), or false. For scripts that answer for any message of an app (cancel,
 * revoke): one not fanned out yet exists, though it has no hash.
 */
export const INTAKE_APP_LUA = `${REDIS_NOW_LUA}
local function intake_app(bucket, id)
  local entry = redis.call('HGET', bucket, id)
  if not entry then return false end
  local app, _, _, _, _, _, expireAt = struct.unpack('${packedFields(EXPIRE_AT_FIELD)}', entry)
  if tonumber(expireAt) <= redis_now() then return false end
  return app
end
`;
