import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { WireCodec, parseClientFrame, parseServerFrame } from '../../src/protocol/index.js';
import { anyFrame, chunked, clientFrame, cuts, futureFrame, serverFrame } from './arbitraries.js';
import { assertProtocolError, decodeChunks } from './helpers.js';

const codec = new WireCodec();

test('client frames: encode -> decodeBody -> parseClientFrame gives the frame back', () => {
  fc.assert(
    fc.property(clientFrame, (frame) => {
      const wire = codec.encode(frame);
      assert.equal(wire.readUInt32BE(0), wire.length - 4);
      assert.ok(wire.length - 4 <= codec.limits.maxFrame);
      const raw = codec.decodeBody(wire.subarray(4));
      assert.deepStrictEqual(raw, frame);
      assert.deepStrictEqual(parseClientFrame(raw), frame);
      if (frame.t !== 14) assert.equal(parseServerFrame(raw), null);
    }),
    { numRuns: 1000 },
  );
});

test('server frames: encode -> decodeBody -> parseServerFrame gives the frame back', () => {
  fc.assert(
    fc.property(serverFrame, (frame) => {
      const wire = codec.encode(frame);
      assert.equal(wire.readUInt32BE(0), wire.length - 4);
      assert.ok(wire.length - 4 <= codec.limits.maxFrame);
      const raw = codec.decodeBody(wire.subarray(4));
      assert.deepStrictEqual(raw, frame);
      assert.deepStrictEqual(parseServerFrame(raw), frame);
      if (frame.t !== 14) assertProtocolError(() => parseClientFrame(raw), 'frame_type_unknown');
    }),
    { numRuns: 1000 },
  );
});

test('frames of unknown types round-trip; the server rejects them, the SDK ignores them', () => {
  fc.assert(
    fc.property(futureFrame, (frame) => {
      const raw = codec.decodeBody(codec.encode(frame).subarray(4));
      assert.deepStrictEqual(raw, frame);
      assertProtocolError(() => parseClientFrame(raw), 'frame_type_unknown');
      assert.equal(parseServerFrame(raw), null);
    }),
    { numRuns: 500 },
  );
});

test('a stream of frames in arbitrary chunks decodes to the same frames, in order', () => {
  fc.assert(
    fc.property(fc.array(anyFrame, { minLength: 1, maxLength: 8 }), cuts, (frames, cutPoints) => {
      const stream = Buffer.concat(frames.map((f) => codec.encode(f)));
      const decoder = codec.decoder();
      const outcome = decodeChunks(codec, chunked(stream, cutPoints), decoder);
      assert.equal(outcome.error, null);
      assert.deepStrictEqual(outcome.frames, frames);
      assert.equal(decoder.idle, true);
      assert.ok(outcome.maxBuffered <= codec.limits.maxFrame + 4);
    }),
    { numRuns: 500 },
  );
});

test('one codec encodes many frames without earlier buffers being overwritten', () => {
  // encode() hands out views of msgpackr's output buffer; a later encode must not reuse
  // the bytes of an earlier frame that may still sit in a socket's write queue.
  fc.assert(
    fc.property(fc.array(anyFrame, { minLength: 2, maxLength: 30 }), (frames) => {
      const wires = frames.map((f) => codec.encode(f));
      const copies = wires.map((w) => Buffer.from(w));
      wires.forEach((w, i) => assert.ok(w.equals(copies[i]!), `frame ${i} was overwritten`));
      wires.forEach((w, i) => assert.deepStrictEqual(codec.decodeBody(w.subarray(4)), frames[i]));
    }),
    { numRuns: 50 },
  );
});
