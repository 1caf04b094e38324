import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameType, WireCodec, parseClientFrame, parseServerFrame, type RawFrame } from '../../src/protocol/index.js';
import { fixtureFrames, fixtures, type FrameFixture } from './fixtures.js';
import { assertProtocolError, byteByByte, decodeChunks, frameOf, header, mp, splitAt } from './helpers.js';

const codec = new WireCodec();

function assertParses(fx: FrameFixture, decoded: RawFrame): void {
  if (fx.client === 'reject') {
    assertProtocolError(() => parseClientFrame(decoded), 'frame_type_unknown');
  } else {
    assert.deepStrictEqual(parseClientFrame(decoded), fx.client);
  }
  assert.deepStrictEqual(parseServerFrame(decoded), fx.server);
}

function assertDecodesTo(chunks: Buffer[], expected: RawFrame[], label: string): void {
  const decoder = codec.decoder();
  const outcome = decodeChunks(codec, chunks, decoder);
  assert.equal(outcome.error, null, `${label}: unexpected ${outcome.error?.code}`);
  assert.deepStrictEqual(outcome.frames, expected, label);
  assert.equal(decoder.idle, true, `${label}: decoder not idle at a frame boundary`);
  assert.equal(decoder.bufferedBytes, 0, label);
}

describe('every fixture through the streaming decoder', () => {
  for (const fx of fixtures) {
    test(fx.name, () => {
      const wire = codec.encode(fx.frame);
      assert.ok(Buffer.isBuffer(wire));
      assert.equal(wire.readUInt32BE(0), wire.length - 4, 'length prefix is the body length');
      assert.deepStrictEqual(codec.decodeBody(wire.subarray(4)), fx.frame, 'decodeBody');

      // Whole.
      assertDecodesTo([wire], [fx.frame], 'whole');

      // Byte by byte, checking what the decoder holds after every byte.
      const decoder = codec.decoder();
      const seen: RawFrame[] = [];
      const sink = { onFrame: (f: RawFrame) => { seen.push(f); } };
      for (let i = 0; i < wire.length; i++) {
        decoder.feed(Buffer.from([wire[i]!]), sink);
        if (i < wire.length - 1) {
          assert.equal(seen.length, 0, `frame delivered early at byte ${i}`);
          assert.equal(decoder.idle, false);
          assert.equal(decoder.bufferedBytes, i + 1, `bufferedBytes after ${i + 1} bytes`);
        }
      }
      assert.deepStrictEqual(seen, [fx.frame], 'byte by byte');
      assert.equal(decoder.idle, true);
      assert.equal(decoder.bufferedBytes, 0);

      // Two chunks, split at every boundary.
      for (let at = 1; at < wire.length; at++) {
        assertDecodesTo(splitAt(wire, [at]), [fx.frame], `split at ${at}`);
      }

      const decoded = codec.decodeBody(wire.subarray(4));
      assertParses(fx, decoded);
    });
  }
});

describe('all fixtures concatenated in one stream', () => {
  const stream = Buffer.concat(fixtureFrames.map((f) => codec.encode(f)));

  test('whole stream in one chunk', () => {
    assertDecodesTo([stream], fixtureFrames, 'whole');
  });

  test('byte by byte', () => {
    assertDecodesTo(byteByByte(stream), fixtureFrames, 'byte by byte');
  });

  test('two chunks, split at every boundary', () => {
    for (let at = 1; at < stream.length; at++) {
      assertDecodesTo(splitAt(stream, [at]), fixtureFrames, `split at ${at}`);
    }
  });

  test('every frame in its own chunk, and frame boundaries shifted by one byte either way', () => {
    const frames = fixtureFrames.map((f) => codec.encode(f));
    assertDecodesTo(frames, fixtureFrames, 'one frame per chunk');
    const ends: number[] = [];
    let offset = 0;
    for (const f of frames.slice(0, -1)) ends.push((offset += f.length));
    assertDecodesTo(splitAt(stream, ends.map((e) => e - 1)), fixtureFrames, 'boundaries - 1');
    assertDecodesTo(splitAt(stream, ends.map((e) => e + 1)), fixtureFrames, 'boundaries + 1');
  });

  test('decoded frames parse as the fixtures say', () => {
    const { frames } = decodeChunks(codec, [stream]);
    assert.equal(frames.length, fixtures.length);
    fixtures.forEach((fx, i) => assertParses(fx, frames[i]!));
  });
});

describe('exact bytes on the wire', () => {
  test('PING encodes to the 8 bytes of the contract', () => {
    // length 4 | fixmap(1) | fixstr "t" | fixint 5
    assert.equal(codec.encode({ t: FrameType.PING }).toString('hex'), '00000004' + '81' + 'a174' + '05');
  });

  test('field order and encodings of a REGISTER', () => {
    const wire = codec.encode({ t: FrameType.REGISTER, app: 'a', key: 'k' });
    assert.equal(wire.toString('hex'), '00000010' + '83' + 'a174' + '01' + 'a3617070' + 'a161' + 'a36b6579' + 'a16b');
  });

  test('undefined optional fields are left out, not written as an extension', () => {
    const wire = codec.encode({ t: FrameType.PUSH, id: 'm', ts: 1, exp: 2, data: undefined, cid: undefined });
    assert.deepStrictEqual(codec.decodeBody(wire.subarray(4)), { t: 7, id: 'm', ts: 1, exp: 2 });
    assert.equal(wire.includes(0xd4), false);
  });

  test('a HELLO written by another MessagePack encoder (map16, str8/str16/str32, uint64) decodes', () => {
    // What a device SDK in another language may legitimately emit: wider encodings than
    // msgpackr's shortest forms, integer keys, and a uint64 timestamp.
    const body = mp.cat(
      mp.map16(9),
      mp.str8('t'), mp.uint8(3),
      mp.str16('v'), mp.fixint(1),
      mp.str('app'), mp.str32('demo'),
      mp.str('dev'), mp.str16('dev-ü'),
      mp.str('ts'), mp.uint64(1_700_000_000_123n),
      mp.str('nonce'), mp.str8('0123456789abcdef'),
      mp.str('sig'), mp.str('ab'.repeat(32)),
      mp.str('cur'), mp.cat(mp.fixmap(1), mp.str('log'), mp.int64(9_007_199_254_740_991n)),
      mp.fixint(99), mp.str('integer keys are allowed and ignored'),
    );
    const outcome = decodeChunks(codec, byteByByte(frameOf(body)));
    assert.equal(outcome.error, null);
    assert.equal(outcome.frames.length, 1);
    const raw = outcome.frames[0]!;
    assert.equal(raw['99'], 'integer keys are allowed and ignored');
    assert.deepStrictEqual(parseClientFrame(raw), {
      t: FrameType.HELLO, v: 1, app: 'demo', dev: 'dev-ü', ts: 1_700_000_000_123,
      nonce: '0123456789abcdef', sig: 'ab'.repeat(32), cur: { log: 9_007_199_254_740_991 },
    });
  });

  test('a uint64 beyond 2^53 cannot pose as a timestamp', () => {
    const body = mp.cat(
      mp.fixmap(4), mp.str('t'), mp.fixint(7), mp.str('id'), mp.str('m'),
      mp.str('ts'), mp.uint64(2n ** 53n + 1n), mp.str('exp'), mp.fixint(1),
    );
    const raw = codec.decodeBody(body);
    assertProtocolError(() => parseServerFrame(raw), 'frame_field_invalid');
  });
});

describe('frames at the size limit', () => {
  // {t: 32, p: <bin16 of k bytes>}: 1 + 2 + 1 + 2 + 3 + k bytes.
  const atLimit = { t: 32, p: Buffer.alloc(65536 - 9, 0xab) };

  test('a body of exactly maxFrame bytes is encoded and decoded', () => {
    const wire = codec.encode(atLimit);
    assert.equal(wire.readUInt32BE(0), 65536);
    assertDecodesTo([wire], [atLimit], 'whole');
    assertDecodesTo(byteByByte(wire), [atLimit], 'byte by byte');
    const points = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 1000, 32768, 65535, 65536, 65537, 65538, 65539];
    for (let at = 1; at < wire.length; at += 4099) points.push(at);
    for (const at of points) assertDecodesTo(splitAt(wire, [at]), [atLimit], `split at ${at}`);
  });

  test('maxFrame bytes, then a small frame, in one chunk and split in the header of the second', () => {
    const first = codec.encode(atLimit);
    const second = codec.encode({ t: FrameType.PONG });
    const stream = Buffer.concat([first, second]);
    assertDecodesTo([stream], [atLimit, { t: 6 }], 'whole');
    for (let at = first.length - 1; at < stream.length; at++) {
      assertDecodesTo(splitAt(stream, [at]), [atLimit, { t: 6 }], `split at ${at}`);
    }
  });

  test('encode refuses a body one byte over maxFrame with frame_too_large / 4004, and keeps working', () => {
    assertProtocolError(() => codec.encode({ t: 32, p: Buffer.alloc(65536 - 9 + 1) }), 'frame_too_large', 4004);
    assert.equal(codec.encode({ t: FrameType.PING }).toString('hex'), '0000000481a17405');
  });

  test('a codec with a smaller maxFrame applies it to both encode and decode', () => {
    const small = new WireCodec({ maxFrame: 16 });
    assert.equal(small.limits.maxFrame, 16);
    assert.equal(small.limits.maxDepth, 16, 'other limits keep their defaults');
    // {t: 32, s: <fixstr of k>}: 1 + 2 + 1 + 2 + 1 + k bytes.
    const over = { t: 32, s: 'x'.repeat(10) }; // 17 bytes
    assert.equal(codec.encode(over).length - 4, 17);
    assertProtocolError(() => small.encode(over), 'frame_too_large', 4004);
    assert.equal(decodeChunks(small, [codec.encode(over)]).error?.code, 'frame_too_large');
    const fits = { t: 32, s: 'x'.repeat(9) }; // exactly 16 bytes
    assert.equal(codec.encode(fits).length - 4, 16);
    assert.deepStrictEqual(decodeChunks(small, [small.encode(fits)]).frames, [fits]);
    assert.equal(decodeChunks(small, [header(17)]).error?.code, 'frame_too_large');
  });
});

describe('FrameDecoder delivery rules', () => {
  const ping = codec.encode({ t: FrameType.PING });
  const pong = codec.encode({ t: FrameType.PONG });

  test('frames before a violation in the same chunk are delivered, then the error is thrown', () => {
    const outcome = decodeChunks(codec, [Buffer.concat([ping, pong, header(0), ping])]);
    assert.deepStrictEqual(outcome.frames, [{ t: 5 }, { t: 6 }]);
    assert.equal(outcome.error?.code, 'frame_empty');
  });

  test('a sink returning false stops decoding the rest of the chunk', () => {
    const decoder = codec.decoder();
    const seen: RawFrame[] = [];
    decoder.feed(Buffer.concat([ping, pong, ping]), { onFrame: (f) => { seen.push(f); return false; } });
    assert.deepStrictEqual(seen, [{ t: 5 }]);
    // Same when the stopping frame was assembled across chunks.
    const d2 = codec.decoder();
    const seen2: RawFrame[] = [];
    const stop = { onFrame: (f: RawFrame) => { seen2.push(f); return false; } };
    d2.feed(ping.subarray(0, 5), stop);
    d2.feed(Buffer.concat([ping.subarray(5), pong]), stop);
    assert.deepStrictEqual(seen2, [{ t: 5 }]);
  });

  test('a sink returning true or nothing keeps decoding', () => {
    const seen: RawFrame[] = [];
    codec.decoder().feed(Buffer.concat([ping, pong, ping]), { onFrame: (f) => { seen.push(f); return true; } });
    assert.deepStrictEqual(seen, [{ t: 5 }, { t: 6 }, { t: 5 }]);
  });

  test('an empty chunk changes nothing', () => {
    const decoder = codec.decoder();
    decoder.feed(Buffer.alloc(0), { onFrame: () => assert.fail('no frame expected') });
    assert.equal(decoder.idle, true);
    decoder.feed(ping.subarray(0, 2), { onFrame: () => assert.fail('no frame expected') });
    decoder.feed(Buffer.alloc(0), { onFrame: () => assert.fail('no frame expected') });
    assert.equal(decoder.bufferedBytes, 2);
    const seen: RawFrame[] = [];
    decoder.feed(ping.subarray(2), { onFrame: (f) => { seen.push(f); } });
    assert.deepStrictEqual(seen, [{ t: 5 }]);
  });

  test('decoders of one codec are independent', () => {
    const a = codec.decoder();
    const b = codec.decoder();
    const seenA: RawFrame[] = [];
    const seenB: RawFrame[] = [];
    a.feed(ping.subarray(0, 3), { onFrame: (f) => { seenA.push(f); } });
    b.feed(pong.subarray(0, 6), { onFrame: (f) => { seenB.push(f); } });
    a.feed(ping.subarray(3), { onFrame: (f) => { seenA.push(f); } });
    b.feed(pong.subarray(6), { onFrame: (f) => { seenB.push(f); } });
    assert.deepStrictEqual(seenA, [{ t: 5 }]);
    assert.deepStrictEqual(seenB, [{ t: 6 }]);
  });
});
