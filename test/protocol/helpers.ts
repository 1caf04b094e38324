import assert from 'node:assert/strict';
import { FrameDecoder, ProtocolError, WireCodec, type ProtocolErrorCode, type RawFrame } from '../../src/protocol/index.js';

/** Everything a FrameDecoder produced for one byte stream: frames, then maybe one error. */
export interface DecodeOutcome {
  frames: RawFrame[];
  error: ProtocolError | null;
  /** Largest `bufferedBytes` seen after any feed call. */
  maxBuffered: number;
}

/**
 * Feeds `chunks` to a fresh decoder in order, collecting frames. Stops at the first
 * ProtocolError (a connection would be closed there). Any other throwable escapes, so a
 * test using this fails loudly if the decoder throws something that is not a ProtocolError.
 */
export function decodeChunks(codec: WireCodec, chunks: readonly Uint8Array[], decoder: FrameDecoder = codec.decoder()): DecodeOutcome {
  const frames: RawFrame[] = [];
  let maxBuffered = 0;
  const sink = { onFrame: (frame: RawFrame) => { frames.push(frame); } };
  for (const chunk of chunks) {
    try {
      decoder.feed(chunk, sink);
    } catch (err) {
      if (err instanceof ProtocolError) return { frames, error: err, maxBuffered };
      throw err;
    }
    maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
  }
  return { frames, error: null, maxBuffered };
}

/** Splits `bytes` at the given sorted, distinct offsets (each in 1..length-1). */
export function splitAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const at of offsets) {
    chunks.push(bytes.subarray(from, at));
    from = at;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** One chunk per byte; each a fresh Buffer so nothing aliases the source. */
export function byteByByte(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) chunks.push(Buffer.from([bytes[i]!]));
  return chunks;
}

/** Prefixes a body with its 4-byte big-endian length. */
export function frameOf(body: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** A bare 4-byte length header. */
export function header(length: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(length, 0);
  return out;
}

// ---------------------------------------------------------------------------
// Hand-written MessagePack, independent of msgpackr, for bodies msgpackr will not write.

export const mp = {
  fixmap: (n: number): Buffer => Buffer.from([0x80 | n]),
  map16: (n: number): Buffer => Buffer.from([0xde, n >> 8, n & 0xff]),
  map32: (n: number): Buffer => { const b = Buffer.alloc(5); b[0] = 0xdf; b.writeUInt32BE(n, 1); return b; },
  fixarray: (n: number): Buffer => Buffer.from([0x90 | n]),
  array16: (n: number): Buffer => Buffer.from([0xdc, n >> 8, n & 0xff]),
  array32: (n: number): Buffer => { const b = Buffer.alloc(5); b[0] = 0xdd; b.writeUInt32BE(n, 1); return b; },
  /** Shortest string encoding (fixstr / str8 / str16). */
  str(s: string): Buffer {
    const utf8 = Buffer.from(s, 'utf8');
    if (utf8.length < 32) return Buffer.concat([Buffer.from([0xa0 | utf8.length]), utf8]);
    if (utf8.length < 256) return Buffer.concat([Buffer.from([0xd9, utf8.length]), utf8]);
    return Buffer.concat([Buffer.from([0xda, utf8.length >> 8, utf8.length & 0xff]), utf8]);
  },
  str8: (s: string): Buffer => { const u = Buffer.from(s, 'utf8'); return Buffer.concat([Buffer.from([0xd9, u.length]), u]); },
  str16: (s: string): Buffer => { const u = Buffer.from(s, 'utf8'); return Buffer.concat([Buffer.from([0xda, u.length >> 8, u.length & 0xff]), u]); },
  str32: (s: string): Buffer => { const u = Buffer.from(s, 'utf8'); const h = Buffer.alloc(5); h[0] = 0xdb; h.writeUInt32BE(u.length, 1); return Buffer.concat([h, u]); },
  bin8: (bytes: number[]): Buffer => Buffer.from([0xc4, bytes.length, ...bytes]),
  /** Small non-negative (positive fixint) or negative (negative fixint) integer. */
  fixint: (n: number): Buffer => Buffer.from([n & 0xff]),
  uint8: (n: number): Buffer => Buffer.from([0xcc, n]),
  uint64: (n: bigint): Buffer => { const b = Buffer.alloc(9); b[0] = 0xcf; b.writeBigUInt64BE(n, 1); return b; },
  int64: (n: bigint): Buffer => { const b = Buffer.alloc(9); b[0] = 0xd3; b.writeBigInt64BE(n, 1); return b; },
  float64: (n: number): Buffer => { const b = Buffer.alloc(9); b[0] = 0xcb; b.writeDoubleBE(n, 1); return b; },
  nil: Buffer.from([0xc0]),
  false: Buffer.from([0xc2]),
  true: Buffer.from([0xc3]),
  cat: (...parts: Buffer[]): Buffer => Buffer.concat(parts),
};

/** `{"t": 7, <key>: <value>}` written by hand: a 2-entry map with t first. */
export function bodyWith(key: Buffer, value: Buffer): Buffer {
  return mp.cat(mp.fixmap(2), mp.str('t'), mp.fixint(7), key, value);
}

/** Asserts `fn` throws a ProtocolError with exactly this code and close code. */
export function assertProtocolError(fn: () => unknown, code: ProtocolErrorCode, closeCode: number = code === 'frame_too_large' ? 4004 : 4003): ProtocolError {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtocolError, `expected ProtocolError ${code}, got ${caught === null ? 'no throw' : String(caught)}`);
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code} (${caught.message})`);
  assert.equal(caught.closeCode, closeCode);
  assert.equal(caught.name, 'ProtocolError');
  return caught;
}

/** Decodes one body through a full frame and the streaming decoder, expecting an error. */
export function assertBodyRejected(codec: WireCodec, body: Buffer, code: ProtocolErrorCode): void {
  assertProtocolError(() => codec.decodeBody(body), code);
  const outcome = decodeChunks(codec, [frameOf(body)]);
  assert.deepEqual(outcome.frames, []);
  assert.ok(outcome.error, `streaming decoder accepted a body that decodeBody rejects (${code})`);
  assert.equal(outcome.error.code, code);
}

/** Own enumerable and non-enumerable keys of Object.prototype, to detect pollution. */
export function objectPrototypeKeys(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}
