import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FRAME_HEADER_BYTES, FrameType, WireCodec, defaultCodecLimits, parseClientFrame, type RawFrame } from '../../src/protocol/index.js';
import { assertBodyRejected, assertProtocolError, bodyWith, byteByByte, decodeChunks, frameOf, header, mp, objectPrototypeKeys } from './helpers.js';

const codec = new WireCodec();
const ping = codec.encode({ t: FrameType.PING });

test('default limits are the documented ones', () => {
  assert.deepStrictEqual({ ...defaultCodecLimits }, { maxFrame: 65536, maxCollectionLength: 4096, maxDepth: 16 });
  assert.equal(FRAME_HEADER_BYTES, 4);
  assert.ok(Object.isFrozen(defaultCodecLimits));
  assert.ok(Object.isFrozen(codec.limits));
  assert.deepStrictEqual({ ...new WireCodec({ maxDepth: 3 }).limits }, { maxFrame: 65536, maxCollectionLength: 4096, maxDepth: 3 });
});

describe('length prefix', () => {
  test('length 0 is frame_empty / 4003, whole or byte by byte', () => {
    const whole = decodeChunks(codec, [header(0)]);
    assert.equal(whole.error?.code, 'frame_empty');
    assert.equal(whole.error?.closeCode, 4003);

    const decoder = codec.decoder();
    const sink = { onFrame: () => assert.fail('no frame expected') };
    for (let i = 0; i < 3; i++) {
      decoder.feed(Buffer.from([0]), sink);
      assert.equal(decoder.bufferedBytes, i + 1);
    }
    assertProtocolError(() => decoder.feed(Buffer.from([0]), sink), 'frame_empty', 4003);
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('length 0 after a valid frame in the same chunk: the frame is delivered first', () => {
    const outcome = decodeChunks(codec, [Buffer.concat([ping, header(0)])]);
    assert.deepStrictEqual(outcome.frames, [{ t: 5 }]);
    assert.equal(outcome.error?.code, 'frame_empty');
  });

  for (const length of [65537, 65536 * 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]) {
    test(`length ${length} is frame_too_large / 4004 as soon as the 4th header byte arrives, with nothing allocated`, (t) => {
      // Every input is built before the allocation spies go in: from then on, only the
      // decoder can call Buffer's allocators.
      const hdr = header(length);
      const headerBytes = [0, 1, 2, 3].map((i) => hdr.subarray(i, i + 1));
      const tail = Buffer.concat([hdr.subarray(2), Buffer.alloc(100, 0x81)]);
      const afterPing = Buffer.concat([ping, hdr]);
      const spies = [t.mock.method(Buffer, 'allocUnsafe'), t.mock.method(Buffer, 'allocUnsafeSlow'), t.mock.method(Buffer, 'alloc')];
      const noFrame = { onFrame: () => assert.fail('no frame expected') };

      // Header alone, in one chunk.
      const d1 = codec.decoder();
      assertProtocolError(() => d1.feed(hdr, noFrame), 'frame_too_large', 4004);
      assert.equal(d1.bufferedBytes, 0);

      // Header byte by byte: the 4th byte throws; no body byte was ever offered.
      const d2 = codec.decoder();
      for (let i = 0; i < 3; i++) {
        d2.feed(headerBytes[i]!, noFrame);
        assert.equal(d2.bufferedBytes, i + 1);
      }
      assertProtocolError(() => d2.feed(headerBytes[3]!, noFrame), 'frame_too_large', 4004);
      assert.equal(d2.bufferedBytes, 0);

      // Header split 2 + 2 with some body bytes after it: same error, nothing kept.
      const d3 = codec.decoder();
      d3.feed(hdr.subarray(0, 2), noFrame);
      assertProtocolError(() => d3.feed(tail, noFrame), 'frame_too_large', 4004);
      assert.equal(d3.bufferedBytes, 0);

      // After a valid frame in the same chunk: that frame is delivered first.
      const d4 = codec.decoder();
      const seen: RawFrame[] = [];
      assertProtocolError(() => d4.feed(afterPing, { onFrame: (f) => { seen.push(f); } }), 'frame_too_large', 4004);
      assert.deepStrictEqual(seen, [{ t: 5 }]);

      for (const spy of spies) assert.equal(spy.mock.callCount(), 0, 'the decoder allocated a buffer');
    });
  }

  test('a partial frame costs what has arrived, not what the header announced', (t) => {
    const alloc = t.mock.method(Buffer, 'allocUnsafe');
    const decoder = codec.decoder();
    decoder.feed(header(65536), { onFrame: () => assert.fail() });
    assert.equal(decoder.bufferedBytes, 4);
    assert.equal(decoder.idle, false);
    assert.equal(alloc.mock.callCount(), 0, 'nothing allocated before a body byte arrives');
    decoder.feed(Buffer.alloc(1), { onFrame: () => assert.fail() });
    assert.deepStrictEqual(alloc.mock.calls.map((c) => c.arguments[0]), [1024], 'a small first buffer for one byte of a 64 KiB body');
    decoder.feed(Buffer.alloc(999, 0), { onFrame: () => assert.fail() });
    assert.equal(decoder.bufferedBytes, 1004);
    assert.equal(alloc.mock.callCount(), 1, 'no reallocation while the body fits');
    decoder.feed(Buffer.alloc(3000, 0), { onFrame: () => assert.fail() });
    assert.deepStrictEqual(alloc.mock.calls.map((c) => c.arguments[0]), [1024, 4096], 'capacity doubles to fit what arrived');
    assert.equal(decoder.bufferedBytes, 4004);
  });

  test('a custom maxFrame moves the threshold exactly', () => {
    const small = new WireCodec({ maxFrame: 100 });
    assert.equal(decodeChunks(small, [header(101)]).error?.code, 'frame_too_large');
    const d = small.decoder();
    d.feed(header(100), { onFrame: () => assert.fail() });
    assert.equal(d.bufferedBytes, 4);
  });
});

describe('collection lengths', () => {
  const ints = (n: number): Buffer => Buffer.alloc(n, 0x01);

  test('an array of exactly maxCollectionLength entries is accepted, one more is body_too_long', () => {
    const ok = codec.decodeBody(bodyWith(mp.str('d'), mp.cat(mp.array16(4096), ints(4096))));
    assert.equal((ok['d'] as unknown[]).length, 4096);
    assertBodyRejected(codec, bodyWith(mp.str('d'), mp.cat(mp.array16(4097), ints(4097))), 'body_too_long');
  });

  test('a top-level map of exactly maxCollectionLength entries is accepted, one more is body_too_long', () => {
    const entries = (n: number): Buffer => {
      const parts = [mp.str('t'), mp.fixint(7)];
      for (let i = 1; i < n; i++) parts.push(mp.str(`k${i}`), mp.nil);
      return Buffer.concat(parts);
    };
    const ok = codec.decodeBody(mp.cat(mp.map16(4096), entries(4096)));
    assert.equal(Object.keys(ok).length, 4096);
    assertBodyRejected(codec, mp.cat(mp.map16(4097), entries(4097)), 'body_too_long');
  });

  test('a nested map over the limit is body_too_long', () => {
    const parts = [mp.map16(4097)];
    for (let i = 0; i < 4097; i++) parts.push(mp.fixint(i & 0x7f), mp.nil);
    assertBodyRejected(codec, bodyWith(mp.str('d'), Buffer.concat(parts)), 'body_too_long');
  });

  test('32-bit collection headers announcing billions of entries are rejected before reading on', (t) => {
    const bodies: Buffer[] = [];
    for (const n of [4097, 0x10000, 0xffffffff]) {
      bodies.push(bodyWith(mp.str('d'), mp.array32(n)), bodyWith(mp.str('d'), mp.map32(n)), mp.map32(n));
    }
    const frames = bodies.map(frameOf);
    const alloc = t.mock.method(Buffer, 'allocUnsafe');
    for (const body of bodies) assertProtocolError(() => codec.decodeBody(body), 'body_too_long');
    for (const frame of frames) {
      assertProtocolError(() => codec.decoder().feed(frame, { onFrame: () => assert.fail() }), 'body_too_long');
    }
    assert.equal(alloc.mock.callCount(), 0);
  });

  test('a header within the limit but promising more items than bytes left is body_malformed', () => {
    assertBodyRejected(codec, bodyWith(mp.str('d'), mp.cat(mp.array16(100), ints(10))), 'body_malformed');
    assertBodyRejected(codec, bodyWith(mp.str('d'), mp.cat(mp.map16(6), ints(11))), 'body_malformed');
    const huge = new WireCodec({ maxCollectionLength: 0xffffffff });
    assertBodyRejected(huge, bodyWith(mp.str('d'), mp.array32(0xffffffff)), 'body_malformed');
  });

  test('a custom maxCollectionLength applies to arrays, maps and the top-level map', () => {
    const three = new WireCodec({ maxCollectionLength: 3 });
    assert.deepStrictEqual(three.decodeBody(bodyWith(mp.str('d'), mp.cat(mp.fixarray(3), ints(3)))), { t: 7, d: [1, 1, 1] });
    assertBodyRejected(three, bodyWith(mp.str('d'), mp.cat(mp.fixarray(4), ints(4))), 'body_too_long');
    assertBodyRejected(three, bodyWith(mp.str('d'), mp.cat(mp.fixmap(4), mp.fixint(1), mp.nil, mp.fixint(2), mp.nil, mp.fixint(3), mp.nil, mp.fixint(4), mp.nil)), 'body_too_long');
    assertBodyRejected(three, mp.cat(mp.fixmap(4), mp.str('t'), mp.fixint(7), mp.str('a'), mp.nil, mp.str('b'), mp.nil, mp.str('c'), mp.nil), 'body_too_long');
  });
});

describe('nesting depth', () => {
  /** `{t: 7, d: <levels - 1 nested arrays>}`: the top-level map is level 1. */
  function nestedArrays(levels: number, innermostEmpty: boolean): Buffer {
    const arrays = levels - 1;
    return mp.cat(mp.fixmap(2), mp.str('t'), mp.fixint(7), mp.str('d'), Buffer.alloc(arrays - 1, 0x91), innermostEmpty ? mp.fixarray(0) : mp.cat(mp.fixarray(1), mp.fixint(1)));
  }
  function nestedMaps(levels: number): Buffer {
    const parts = [mp.fixmap(2), mp.str('t'), mp.fixint(7)];
    for (let i = 1; i < levels; i++) parts.push(mp.str('d'), mp.fixmap(1));
    parts.push(mp.str('d'), mp.true);
    return Buffer.concat(parts);
  }
  function depthOf(v: unknown): number {
    if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
    if (typeof v === 'object' && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depthOf));
    return 0;
  }

  test('16 levels (the default maxDepth) are accepted, 17 are body_too_deep', () => {
    const ok = codec.decodeBody(nestedArrays(16, false));
    assert.equal(depthOf(ok), 16);
    assert.equal(depthOf(codec.decodeBody(nestedArrays(16, true))), 16);
    assert.equal(depthOf(codec.decodeBody(nestedMaps(16))), 16);
    assertBodyRejected(codec, nestedArrays(17, false), 'body_too_deep');
    assertBodyRejected(codec, nestedMaps(17), 'body_too_deep');
  });

  test('an empty collection counts as a level too', () => {
    assertBodyRejected(codec, nestedArrays(17, true), 'body_too_deep');
    const emptyMapAt17 = mp.cat(nestedMaps(16).subarray(0, -1), mp.fixmap(0));
    assertBodyRejected(codec, emptyMapAt17, 'body_too_deep');
  });

  test('a custom maxDepth applies exactly', () => {
    const three = new WireCodec({ maxDepth: 3 });
    assert.deepStrictEqual(three.decodeBody(nestedArrays(3, false)), { t: 7, d: [[1]] });
    assertBodyRejected(three, nestedArrays(4, false), 'body_too_deep');
    assertBodyRejected(three, nestedArrays(4, true), 'body_too_deep');
    // Breadth at an allowed depth is fine: siblings do not add up.
    const siblings = mp.cat(mp.fixmap(3), mp.str('t'), mp.fixint(7), mp.str('a'), mp.fixarray(2), mp.fixarray(1), mp.nil, mp.fixarray(0), mp.str('b'), mp.fixmap(1), mp.fixint(1), mp.fixarray(0));
    assert.deepStrictEqual(three.decodeBody(siblings), { t: 7, a: [[null], []], b: { 1: [] } });
  });

  test('30,000 nested arrays inside a 64 KiB frame: body_too_deep, no stack overflow', () => {
    const body = nestedArrays(30_001, true);
    assert.ok(body.length < 65536);
    const frame = frameOf(body);
    const whole = decodeChunks(codec, [frame]);
    assert.equal(whole.error?.code, 'body_too_deep');
    const split = decodeChunks(codec, byteByByte(frame));
    assert.equal(split.error?.code, 'body_too_deep');
  });

  test('a full 65,536-byte frame of nested arrays: body_too_deep', () => {
    const body = nestedArrays(65536 - 6 + 1, true);
    assert.equal(body.length, 65536);
    assert.equal(decodeChunks(codec, [frameOf(body)]).error?.code, 'body_too_deep');
  });

  test('even with the depth limit lifted, a stack overflow in the decoder surfaces as body_malformed', () => {
    const lifted = new WireCodec({ maxDepth: 1_000_000 });
    assertProtocolError(() => lifted.decodeBody(nestedArrays(65531, true)), 'body_malformed');
    // The codec still works afterwards.
    assert.deepStrictEqual(lifted.decodeBody(nestedArrays(3, false)), { t: 7, d: [[1]] });
  });
});

describe('forbidden keys and prototype pollution', () => {
  const protoKeyEncodings: Array<[string, Buffer]> = [
    ['fixstr', mp.str('__proto__')],
    ['str8', mp.str8('__proto__')],
    ['str16', mp.str16('__proto__')],
    ['str32', mp.str32('__proto__')],
  ];
  const payload = mp.cat(mp.fixmap(1), mp.str('polluted'), mp.true);

  for (const [encoding, key] of protoKeyEncodings) {
    test(`"__proto__" as a ${encoding} key at the top level is body_forbidden_key`, () => {
      const before = objectPrototypeKeys();
      assertBodyRejected(codec, bodyWith(key, payload), 'body_forbidden_key');
      assertBodyRejected(codec, mp.cat(mp.fixmap(2), key, payload, mp.str('t'), mp.fixint(7)), 'body_forbidden_key');
      assert.deepStrictEqual(objectPrototypeKeys(), before);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    });
  }

  test('"__proto__" nested anywhere is body_forbidden_key', () => {
    const before = objectPrototypeKeys();
    const inMap = mp.cat(mp.fixmap(1), mp.str('__proto__'), payload);
    const bodies = [
      bodyWith(mp.str('data'), inMap),
      bodyWith(mp.str('data'), mp.cat(mp.fixarray(3), mp.nil, mp.fixint(1), inMap)),
      bodyWith(mp.str('data'), mp.cat(mp.fixmap(1), mp.str('x'), mp.cat(mp.fixarray(1), mp.cat(mp.fixmap(2), mp.str('ok'), mp.nil, mp.str16('__proto__'), payload)))),
      // in a HELLO cursor map, where the parser would otherwise copy keys into a fresh object
      mp.cat(mp.fixmap(2), mp.str('t'), mp.fixint(3), mp.str('cur'), mp.cat(mp.fixmap(1), mp.str('__proto__'), mp.fixint(1))),
    ];
    for (const body of bodies) assertBodyRejected(codec, body, 'body_forbidden_key');
    assert.deepStrictEqual(objectPrototypeKeys(), before);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('look-alikes and "__proto__" as a value are accepted and stay plain data', () => {
    const body = mp.cat(
      mp.fixmap(6),
      mp.str('t'), mp.fixint(7),
      mp.str('__proto_'), mp.fixint(1),
      mp.str('__proto__x'), mp.fixint(2),
      mp.str('constructor'), mp.cat(mp.fixmap(1), mp.str('prototype'), mp.cat(mp.fixmap(1), mp.str('polluted'), mp.true)),
      mp.str('v'), mp.str('__proto__'),
      mp.str('__PROTO__'), mp.fixint(3),
    );
    const before = objectPrototypeKeys();
    const raw = codec.decodeBody(body);
    assert.equal(Object.getPrototypeOf(raw), Object.prototype);
    assert.deepStrictEqual(Object.keys(raw).sort(), ['__PROTO__', '__proto_', '__proto__x', 'constructor', 't', 'v']);
    assert.equal(raw['v'], '__proto__');
    assert.ok(Object.hasOwn(raw, 'constructor'));
    assert.deepStrictEqual(objectPrototypeKeys(), before);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('MessagePack types that are never accepted', () => {
  const extensions: Array<[string, Buffer]> = [
    ['fixext1', Buffer.from([0xd4, 0x01, 0x00])],
    ['fixext2', Buffer.from([0xd5, 0x01, 0x00, 0x00])],
    ['fixext4 (timestamp)', Buffer.from([0xd6, 0xff, 0, 0, 0, 0])],
    ['fixext8', Buffer.from([0xd7, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['fixext16', Buffer.concat([Buffer.from([0xd8, 0x01]), Buffer.alloc(16)])],
    ['ext8', Buffer.from([0xc7, 0x01, 0x01, 0x00])],
    ['ext16', Buffer.from([0xc8, 0x00, 0x01, 0x01, 0x00])],
    ['ext32', Buffer.from([0xc9, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00])],
    ['msgpackr undefined', Buffer.from([0xd4, 0x00, 0x00])],
  ];
  for (const [name, ext] of extensions) {
    test(`${name} is body_malformed, as a value or nested`, () => {
      assertBodyRejected(codec, bodyWith(mp.str('d'), ext), 'body_malformed');
      assertBodyRejected(codec, bodyWith(mp.str('d'), mp.cat(mp.fixarray(2), mp.nil, ext)), 'body_malformed');
      assertBodyRejected(codec, bodyWith(ext, mp.nil), 'body_malformed');
    });
  }

  test('0xc1 (never used) is body_malformed as a value, a key or inside an array', () => {
    assertBodyRejected(codec, bodyWith(mp.str('d'), Buffer.from([0xc1])), 'body_malformed');
    assertBodyRejected(codec, bodyWith(Buffer.from([0xc1]), mp.nil), 'body_malformed');
    assertBodyRejected(codec, bodyWith(mp.str('d'), Buffer.from([0x92, 0x01, 0xc1])), 'body_malformed');
  });

  test('map keys must be strings or integers', () => {
    const badKeys: Buffer[] = [mp.nil, mp.true, mp.false, mp.float64(1), Buffer.from([0xca, 0, 0, 0, 0]), mp.fixarray(0), mp.fixmap(0), mp.bin8([0x74])];
    for (const key of badKeys) assertBodyRejected(codec, bodyWith(key, mp.nil), 'body_malformed');
    const intKeys: Buffer[] = [mp.fixint(5), mp.fixint(-3), mp.uint8(200), Buffer.from([0xcd, 1, 0]), Buffer.from([0xce, 0, 1, 0, 0]), mp.uint64(7n), Buffer.from([0xd0, 0x80]), Buffer.from([0xd1, 0x80, 0]), Buffer.from([0xd2, 0x80, 0, 0, 0]), mp.int64(-7n)];
    const expectedKeys = ['5', '-3', '200', '256', '65536', '7', '-128', '-32768', '-2147483648', '-7'];
    intKeys.forEach((key, i) => {
      const raw = codec.decodeBody(bodyWith(key, mp.str('v')));
      assert.deepStrictEqual(raw, { t: 7, [expectedKeys[i]!]: 'v' });
    });
  });

  test('trailing bytes after the map are body_malformed', () => {
    const pingBody = ping.subarray(4);
    assertBodyRejected(codec, Buffer.concat([pingBody, Buffer.from([0x00])]), 'body_malformed');
    assertBodyRejected(codec, Buffer.concat([pingBody, pingBody]), 'body_malformed');
    assertBodyRejected(codec, Buffer.concat([pingBody, Buffer.from([0xc0])]), 'body_malformed');
  });

  test('truncated values are body_malformed', () => {
    const truncated: Buffer[] = [
      mp.cat(mp.fixmap(2), mp.str('t'), mp.fixint(7)), // second entry missing
      mp.cat(mp.fixmap(1), mp.str('t')), // value missing
      bodyWith(mp.str('d'), Buffer.from([0xa5, 0x61, 0x62])), // fixstr short
      bodyWith(mp.str('d'), Buffer.from([0xd9])), // str8 without its length
      bodyWith(mp.str('d'), Buffer.from([0xd9, 0x05, 0x61])), // str8 short
      bodyWith(mp.str('d'), Buffer.from([0xdb, 0x00, 0x00, 0x01, 0x00])), // str32 short
      bodyWith(mp.str('d'), Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff])), // bin32 of 4 GiB
      bodyWith(mp.str('d'), Buffer.from([0xce, 0x00, 0x01])), // uint32 short
      bodyWith(mp.str('d'), Buffer.from([0xcb, 0x00])), // float64 short
      bodyWith(mp.str('d'), Buffer.from([0xdc, 0x00])), // array16 without its length
      mp.cat(Buffer.from([0xde, 0x00])), // map16 without its length
    ];
    for (const body of truncated) assertBodyRejected(codec, body, 'body_malformed');
  });

  test('a body that is not a map is body_not_map', () => {
    const notMaps: Buffer[] = [
      mp.fixint(5), mp.fixint(-1), mp.nil, mp.true, mp.str('t'), mp.cat(mp.fixarray(1), mp.fixint(5)),
      mp.cat(mp.array16(0)), mp.bin8([1]), mp.float64(5), mp.uint64(5n), Buffer.from([0xc1]), Buffer.from([0xd4, 0, 0]),
    ];
    for (const body of notMaps) assertBodyRejected(codec, body, 'body_not_map');
  });
});

describe('the frame type field', () => {
  const badT: Array<[string, Buffer | null]> = [
    ['missing', null],
    ['0', mp.fixint(0)],
    ['-1', mp.fixint(-1)],
    ['1.5', mp.float64(1.5)],
    ['"1"', mp.str('1')],
    ['true', mp.true],
    ['nil', mp.nil],
    ['[1]', mp.cat(mp.fixarray(1), mp.fixint(1))],
    ['{}', mp.fixmap(0)],
    ['2^53 (unsafe)', mp.uint64(2n ** 53n)],
    ['2^64-1', mp.uint64(2n ** 64n - 1n)],
    ['-2^63', mp.int64(-(2n ** 63n))],
    ['NaN', mp.float64(Number.NaN)],
    ['Infinity', mp.float64(Number.POSITIVE_INFINITY)],
  ];
  for (const [name, value] of badT) {
    test(`t = ${name} is frame_field_invalid`, () => {
      const body = value === null ? mp.cat(mp.fixmap(1), mp.str('x'), mp.fixint(7)) : mp.cat(mp.fixmap(1), mp.str('t'), value);
      assertBodyRejected(codec, body, 'frame_field_invalid');
    });
  }

  test('an empty map is frame_field_invalid (no t)', () => {
    assertBodyRejected(codec, mp.fixmap(0), 'frame_field_invalid');
    assertBodyRejected(codec, mp.map16(0), 'frame_field_invalid');
  });

  test('t written with any integer encoding is accepted', () => {
    for (const t of [mp.fixint(3), mp.uint8(3), Buffer.from([0xcd, 0, 3]), Buffer.from([0xce, 0, 0, 0, 3]), mp.uint64(3n), mp.int64(3n), Buffer.from([0xd0, 3])]) {
      const raw: RawFrame = codec.decodeBody(mp.cat(mp.fixmap(1), mp.str('t'), t));
      assert.deepStrictEqual(raw, { t: 3 });
    }
    assert.deepStrictEqual(codec.decodeBody(mp.cat(mp.fixmap(1), mp.str('t'), mp.uint64(2n ** 53n - 1n))), { t: Number.MAX_SAFE_INTEGER });
  });

  test('unknown t decodes (the codec does not judge types) and only parseClientFrame rejects it', () => {
    const raw = codec.decodeBody(mp.cat(mp.fixmap(1), mp.str('t'), mp.uint8(200)));
    assert.deepStrictEqual(raw, { t: 200 });
    assertProtocolError(() => parseClientFrame(raw), 'frame_type_unknown', 4003);
  });
});
