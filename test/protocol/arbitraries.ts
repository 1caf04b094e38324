import fc from 'fast-check';
import { FrameType, type ClientFrame, type NotificationFields, type PushFrame, type RawFrame, type ServerFrame } from '../../src/protocol/index.js';
import { splitAt } from './helpers.js';

/**
 * fast-check arbitraries for frames whose every field value is valid, so a frame must
 * survive encode -> decode -> parse unchanged. Sizes are bounded so every frame fits in the
 * default maxFrame (64 KiB) and nesting stays within maxDepth.
 */

/** Non-empty string of at most `max` UTF-16 units: any code point (no lone surrogates). */
export function str(max: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: Math.floor(max / 2) }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: max }),
    // Up to the field's length limit, not just fast-check's small default size.
    fc.string({ unit: 'binary', minLength: 1, maxLength: Math.floor(max / 2), size: 'max' }),
    fc.string({ unit: 'grapheme-ascii', minLength: max - 2, maxLength: max }),
  );
}

/** Any map key the codec accepts from a JS object (msgpackr writes keys as strings). */
export const key: fc.Arbitrary<string> = fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '__proto__');

const safeInt = fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.constantFrom(0, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53 - 2, 2 ** 32, 2 ** 32 - 1, -(2 ** 31), -(2 ** 31) - 1, 127, 128, -32, -33));
const nat = fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 2 ** 53 - 1, 2 ** 32));

/** A leaf MessagePack value that decodes back to an equal JS value. */
const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  safeInt,
  // -0 is written as the integer 0 (MessagePack has no negative zero integer).
  fc.double().map((d) => (Object.is(d, -0) ? 0 : d)),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u)),
);

/** Nested pass-through data: arrays and maps at most 5 levels deep, 3 wide. */
export const data: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 5, depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(key, tie('value'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).value;

const rid = fc.oneof(fc.maxSafeInteger(), str(64));
const opts = { noNullPrototype: true } as const;

const notification: fc.Arbitrary<NotificationFields> = fc
  .tuple(
    fc.record({ title: str(200), body: str(200) }, { requiredKeys: [], ...opts }),
    fc.dictionary(key.filter((k) => k !== 'title' && k !== 'body'), data, { maxKeys: 3, noNullPrototype: true }),
  )
  .map(([known, extras]) => ({ ...extras, ...known }));

export const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ t: fc.constant(FrameType.REGISTER), app: str(128), key: str(256), pkg: str(256) }, { requiredKeys: ['t', 'app', 'key'], ...opts }),
  fc.record(
    {
      t: fc.constant(FrameType.HELLO), v: safeInt, app: str(128), dev: str(128), ts: safeInt, nonce: str(128), sig: str(128),
      hb: safeInt,
      cur: fc.dictionary(fc.string({ unit: 'binary', maxLength: 128 }).filter((k) => k !== '__proto__'), nat, { maxKeys: 5, noNullPrototype: true }),
      sdk: str(64),
    },
    { requiredKeys: ['t', 'v', 'app', 'dev', 'ts', 'nonce', 'sig'], ...opts },
  ),
  fc.record({ t: fc.constant(FrameType.PING) }, opts),
  fc.record({ t: fc.constant(FrameType.ACK), ids: fc.array(str(128), { maxLength: 20, size: 'max' }) }, opts),
  fc.record({ t: fc.constantFrom(FrameType.SUB, FrameType.UNSUB), rid, topics: fc.array(str(256), { maxLength: 10, size: 'max' }) }, opts),
  fc.record({ t: fc.constant(FrameType.OPENED), id: str(128) }, opts),
  fc.record({ t: fc.constant(FrameType.BYE), code: safeInt, reason: str(256), retry: safeInt }, { requiredKeys: ['t', 'code'], ...opts }),
);

const push: fc.Arbitrary<PushFrame> = fc
  .tuple(
    fc.record(
      { t: fc.constant(FrameType.PUSH), id: str(128), ts: safeInt, exp: safeInt, data, n: notification, cid: str(128) },
      { requiredKeys: ['t', 'id', 'ts', 'exp'], ...opts },
    ),
    fc.option(fc.record({ log: str(256), seq: safeInt }, opts), { nil: undefined }),
  )
  .map(([frame, position]) => (position === undefined ? frame : { ...frame, ...position }));

export const serverFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record({ t: fc.constant(FrameType.REGISTERED), dev: str(128), secret: str(256) }, opts),
  fc.record({ t: fc.constant(FrameType.WELCOME), hb: safeInt, sid: str(128), now: safeInt }, opts),
  fc.record({ t: fc.constant(FrameType.PONG) }, opts),
  push,
  fc.record({ t: fc.constant(FrameType.SUBACK), rid, ok: fc.boolean(), err: fc.string({ unit: 'binary', maxLength: 32 }) }, { requiredKeys: ['t', 'rid', 'ok'], ...opts }),
  fc.record({ t: fc.constant(FrameType.RESYNC), reason: fc.constantFrom('inbox_overflow' as const, 'cursor_gone' as const) }, opts),
  fc.record({ t: fc.constant(FrameType.BYE), code: safeInt, reason: str(256), retry: safeInt }, { requiredKeys: ['t', 'code'], ...opts }),
  fc.record({ t: fc.constant(FrameType.ERROR), rid, code: str(128), msg: str(1024) }, { requiredKeys: ['t', 'code', 'msg'], ...opts }),
  fc.record({ t: fc.constant(FrameType.CURSOR), log: str(256), seq: nat }, opts),
  fc.record({ t: fc.constant(FrameType.REVOKE), id: str(128) }, opts),
);

/** A frame of a type this version does not know (>= 16, not a Petrel addition), with arbitrary fields. */
export const futureFrame: fc.Arbitrary<RawFrame> = fc
  .tuple(fc.oneof(fc.integer({ min: 16, max: 255 }), fc.integer({ min: 256, max: 2 ** 53 - 1 })).filter((t) => !Object.values(FrameType).includes(t as never)), fc.dictionary(key.filter((k) => k !== 't'), data, { maxKeys: 4, noNullPrototype: true }))
  .map(([t, fields]) => ({ ...fields, t }));

/** Any valid frame, either direction or unknown. */
export const anyFrame: fc.Arbitrary<RawFrame> = fc.oneof(
  clientFrame.map((f) => f as RawFrame),
  serverFrame.map((f) => f as RawFrame),
  futureFrame,
);

/** Sorted distinct split offsets inside a buffer of `length` bytes, as chunks. */
export function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  if (bytes.length < 2) return [bytes];
  return splitAt(bytes, [...new Set(cuts.map((c) => 1 + (c % (bytes.length - 1))))].sort((a, b) => a - b));
}

/** Cut points for `chunked`: none, a few, or many (down to one byte per chunk). */
export const cuts: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.constant([]),
  fc.array(fc.nat(), { maxLength: 8 }),
  fc.array(fc.nat(), { maxLength: 400 }),
);
