import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError, WireCodec, parseClientFrame, parseServerFrame, protocolErrorCodes, type RawFrame } from '../../src/protocol/index.js';
import { anyFrame, chunked, cuts } from './arbitraries.js';
import { decodeChunks, header, objectPrototypeKeys, type DecodeOutcome } from './helpers.js';
import { fuzzCases } from '../support/fuzz-cases.js';

/**
 * Hostile input: whatever bytes arrive, in whatever chunks, the decoder and the parsers
 * throw nothing but ProtocolError (close code 4003 or 4004), never hold more than one
 * frame's worth of bytes, and give the same result however the stream is cut.
 */

const codecs = {
  default: new WireCodec(),
  // Tight limits make random input hit every limit often.
  tight: new WireCodec({ maxFrame: 512, maxCollectionLength: 8, maxDepth: 4 }),
};
type CodecName = keyof typeof codecs;
const codecName = fc.constantFrom<CodecName>('default', 'tight');

const prototypeBefore = objectPrototypeKeys();
const seenCodes = new Set<string>();

/** Feeds the chunks, checks every invariant, returns the outcome for further checks. */
function feedHostile(codec: WireCodec, chunks: Buffer[]): DecodeOutcome {
  let outcome: DecodeOutcome;
  try {
    outcome = decodeChunks(codec, chunks);
  } catch (err) {
    assert.fail(`the decoder threw something other than a ProtocolError: ${String(err)}`);
  }
  const { frames, error, maxBuffered } = outcome;
  if (error !== null) {
    assert.ok(error instanceof ProtocolError);
    assert.ok(error.closeCode === 4003 || error.closeCode === 4004, `close code ${error.closeCode}`);
    assert.ok(Object.hasOwn(protocolErrorCodes, error.code));
    assert.equal(error.closeCode, protocolErrorCodes[error.code]);
    seenCodes.add(error.code);
  }
  assert.ok(maxBuffered <= codec.limits.maxFrame + 4, `buffered ${maxBuffered} bytes`);
  for (const frame of frames) checkFrame(frame);
  return outcome;
}

/** A decoded frame is a plain object with a positive safe-integer `t`; parsing throws only ProtocolError. */
function checkFrame(frame: RawFrame): void {
  assert.equal(typeof frame, 'object');
  assert.ok(!Array.isArray(frame));
  assert.equal(Object.getPrototypeOf(frame), Object.prototype);
  assert.ok(Number.isSafeInteger(frame.t) && frame.t > 0);
  for (const parse of [parseClientFrame, parseServerFrame]) {
    try {
      parse(frame);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `a parser threw ${String(err)}`);
      assert.equal(err.closeCode, 4003);
      assert.ok(err.code === 'frame_field_invalid' || err.code === 'frame_type_unknown', err.code);
      seenCodes.add(err.code);
    }
  }
}

/** The same stream fed whole and in chunks gives the same frames and the same error. */
function checkChunkingIndependent(codec: WireCodec, stream: Buffer, chunks: Buffer[]): void {
  const whole = feedHostile(codec, [stream]);
  const split = feedHostile(codec, chunks);
  assert.deepStrictEqual(split.frames, whole.frames);
  assert.equal(split.error?.code ?? null, whole.error?.code ?? null);
}

/** Byte tokens that make a random walk through MessagePack's grammar. */
const token: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.integer({ min: 0x80, max: 0x8f }).map((b) => [b]), // fixmap
  fc.integer({ min: 0x90, max: 0x9f }).map((b) => [b]), // fixarray
  fc.string({ maxLength: 12 }).map((s) => { const u = [...Buffer.from(s)].slice(0, 31); return [0xa0 | u.length, ...u]; }),
  fc.constant([0xa1, 0x74]), // "t"
  fc.constant([0xa9, ...Buffer.from('__proto__')]),
  fc.constant([0xd9, 0x09, ...Buffer.from('__proto__')]),
  fc.integer({ min: 0, max: 0x7f }).map((b) => [b]), // positive fixint
  fc.integer({ min: 0xe0, max: 0xff }).map((b) => [b]), // negative fixint
  fc.constantFrom([0xc0], [0xc2], [0xc3], [0xc1]),
  fc.tuple(fc.constantFrom(0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb), fc.uint8Array({ maxLength: 9 })).map(([b, rest]) => [b, ...rest]),
  fc.tuple(fc.constantFrom(0xdc, 0xde, 0xdd, 0xdf, 0xc4, 0xd9, 0xc5, 0xda, 0xc6, 0xdb), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([b, rest]) => [b, ...rest]),
  fc.tuple(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9), fc.uint8Array({ maxLength: 4 })).map(([b, rest]) => [b, ...rest]),
  fc.uint8Array({ minLength: 1, maxLength: 4 }).map((u) => [...u]),
);
const grammarBody: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom([0x81], [0x82], [0x83], [0x8f], [0xde, 0x00, 0x03], [0xdf, 0, 0, 0, 2]), fc.array(token, { maxLength: 60 }))
  .map(([first, rest]) => Buffer.from([...first, ...rest.flat()]));

describe('hostile byte streams', () => {
  test('random bytes in random chunks', () => {
    fc.assert(
      fc.property(codecName, fc.uint8Array({ maxLength: 600 }), cuts, (name, bytes, cutPoints) => {
        const stream = Buffer.from(bytes);
        checkChunkingIndependent(codecs[name], stream, chunked(stream, cutPoints));
      }),
      { numRuns: fuzzCases(1500) },
    );
  });

  test('a plausible length prefix, then random bytes', () => {
    fc.assert(
      fc.property(
        codecName,
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(0, 1, 512, 513, 65536, 65537, 0xffffffff)),
        fc.uint8Array({ maxLength: 800 }),
        cuts,
        (name, length, rest, cutPoints) => {
          const stream = Buffer.concat([header(length), rest]);
          checkChunkingIndependent(codecs[name], stream, chunked(stream, cutPoints));
        },
      ),
      { numRuns: fuzzCases(1500) },
    );
  });

  test('a correct length prefix around a random body, several frames in a row', () => {
    const body = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 200 }).map((u) => Buffer.from(u)),
      // Start with a map marker so the scan gets past the first byte.
      fc.tuple(fc.constantFrom(0x81, 0x82, 0x83, 0x8a, 0xde, 0xdf), fc.uint8Array({ maxLength: 200 })).map(([b, u]) => Buffer.from([b, ...u])),
      grammarBody,
    );
    fc.assert(
      fc.property(codecName, fc.array(body, { minLength: 1, maxLength: 5 }), cuts, (name, bodies, cutPoints) => {
        const stream = Buffer.concat(bodies.flatMap((b) => [header(b.length), b]));
        checkChunkingIndependent(codecs[name], stream, chunked(stream, cutPoints));
      }),
      { numRuns: fuzzCases(2000) },
    );
  });

  test('valid frames with random mutations (flip, set, insert, delete, truncate)', () => {
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
      byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0xc1, 0xd4, 0xdd, 0xdf, 0xff, 0x80, 0x90)),
      bit: fc.integer({ min: 0, max: 7 }),
    });
    fc.assert(
      fc.property(
        codecName,
        fc.array(anyFrame, { minLength: 1, maxLength: 4 }),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        cuts,
        (name, frames, mutations, fixLengths, cutPoints) => {
          const codec = codecs.default;
          // Mutate bodies; either keep every length prefix right or mutate the raw stream.
          let stream: Buffer;
          if (fixLengths) {
            const bodies: Buffer[] = frames.map((f) => Buffer.from(codec.encode(f).subarray(4)));
            for (const m of mutations) {
              const i = m.at % bodies.length;
              bodies[i] = mutate(bodies[i]!, m);
            }
            stream = Buffer.concat(bodies.filter((b) => b.length > 0).flatMap((b) => [header(b.length), b]));
          } else {
            stream = Buffer.concat(frames.map((f) => codec.encode(f)));
            for (const m of mutations) stream = mutate(stream, m);
          }
          checkChunkingIndependent(codecs[name], stream, chunked(stream, cutPoints));
        },
      ),
      { numRuns: fuzzCases(2000) },
    );
  });

  // Runs after the properties above (tests in a suite run in order).
  test('the streams reached every error class, and Object.prototype is untouched', (t) => {
    t.diagnostic(`${fuzzCases(1500) * 2 + fuzzCases(2000) * 2} hostile streams decoded`);
    // The streams above must have reached deep into the decoder, not just tripped the
    // length check: every structural error class was produced at least once.
    for (const code of ['frame_too_large', 'frame_empty', 'body_malformed', 'body_not_map', 'body_too_long', 'body_too_deep', 'body_forbidden_key', 'frame_field_invalid', 'frame_type_unknown']) {
      assert.ok(seenCodes.has(code), `fuzzing never produced ${code}; seen: ${[...seenCodes].join(', ')}`);
    }
    assert.deepStrictEqual(objectPrototypeKeys(), prototypeBefore, 'Object.prototype was modified');
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

interface Mutation { at: number; kind: 'flip' | 'set' | 'insert' | 'delete' | 'truncate'; byte: number; bit: number }

function mutate(bytes: Buffer, m: Mutation): Buffer {
  if (bytes.length === 0) return m.kind === 'insert' ? Buffer.from([m.byte]) : bytes;
  const at = m.at % bytes.length;
  const out = Buffer.from(bytes);
  switch (m.kind) {
    case 'flip': out[at] = out[at]! ^ (1 << m.bit); return out;
    case 'set': out[at] = m.byte; return out;
    case 'insert': return Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
    case 'delete': return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    case 'truncate': return Buffer.from(bytes.subarray(0, at));
  }
}
