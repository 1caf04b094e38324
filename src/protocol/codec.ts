import { Packr, RESERVE_START_SPACE, Unpackr, type Options } from 'msgpackr';
import type { Frame, RawFrame } from './frames.js';
import { FRAME_HEADER_BYTES, defaultCodecLimits, type CodecLimits } from './limits.js';
import { MsgpackScanner } from './msgpack-scan.js';
import { ProtocolError } from './protocol-error.js';

/**
 * The one wire codec (docs/protocol.md, "Transport and framing"): 4-byte big-endian
 * length, then one MessagePack map. Used by the gateway, the SDK and the benchmarks.
 *
 * A WireCodec holds the msgpackr instances and scanner; it is not thread-shared state,
 * just per-process scratch, so every component that needs one constructs its own.
 */
export class WireCodec {
  readonly limits: CodecLimits;
  private readonly packr: Packr;
  private readonly unpackr: Unpackr;
  private readonly scanner: MsgpackScanner;

  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = Object.freeze({ ...defaultCodecLimits, ...limits });
    // Plain MessagePack only: no msgpackr records/structures extensions, so any
    // MessagePack library on a device can read what we write.
    // skipValues (msgpackr >= 1.11) drops undefined optional fields instead of writing
    // msgpackr's undefined extension, which other decoders (and our scanner) reject.
    const packOptions: Options & { skipValues: unknown[] } = { useRecords: false, variableMapSize: true, skipValues: [undefined] };
    this.packr = new Packr(packOptions);
    this.unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
    this.scanner = new MsgpackScanner(this.limits);
  }

  /**
   * Encodes one frame, length prefix included, ready for socket.write. The output is
   * scanned with the same limits a peer's decoder applies, so we never send a frame the
   * other side must reject (a too-deep `data` would otherwise be redelivered forever).
   */
  encode(frame: Frame | RawFrame): Buffer {
    // Reserve the 4 header bytes inside msgpackr's own output buffer: saves a copy.
    const out = this.packr.pack(frame, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
    const bodyLength = out.length - FRAME_HEADER_BYTES;
    if (bodyLength > this.limits.maxFrame) {
      throw new ProtocolError('frame_too_large', `encoded frame of ${bodyLength} bytes exceeds ${this.limits.maxFrame}`);
    }
    this.scanner.scan(out.subarray(FRAME_HEADER_BYTES));
    out.writeUInt32BE(bodyLength, 0);
    return out;
  }

  /** Encoded size of one value (an API checks a payload's size as devices will receive it). */
  sizeOf(value: unknown): number {
    return this.packr.pack(value).length;
  }

  /** Decodes one body (no length prefix). Throws only ProtocolError. */
  decodeBody(body: Uint8Array): RawFrame {
    this.scanner.scan(body);
    let value: unknown;
    try {
      value = this.unpackr.unpack(body);
    } catch (err) {
      throw new ProtocolError('body_malformed', `MessagePack decoding failed: ${(err as Error).message}`);
    }
    const t = (value as { t?: unknown }).t;
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0) {
      throw new ProtocolError('frame_field_invalid', 'field "t" must be a positive integer');
    }
    return value as RawFrame;
  }

  /** A streaming decoder for one connection. */
  decoder(): FrameDecoder {
    return new FrameDecoder(this);
  }
}

/** Receives frames from a FrameDecoder. Returning false stops decoding the current chunk. */
export interface FrameSink {
  onFrame(frame: RawFrame): boolean | void;
}

/**
 * Pure streaming decoder: chunks in, frames out, no socket. State is kept small because a
 * gateway holds one per idle connection: between frames it is two numbers and a null.
 *
 * The length prefix is checked as soon as its 4 bytes are in, before any body byte is
 * awaited or allocated, so a length bomb costs nothing (docs/protocol.md).
 */
export class FrameDecoder {
  /** Header bytes read so far (0..3) and their value. */
  private headerBytes = 0;
  private headerValue = 0;
  /**
   * Body being assembled across chunks. Its capacity grows with the bytes that actually
   * arrive (doubling, up to the announced length), so a peer that announces 64 KiB and
   * sends one byte costs us a small buffer, not the announced size.
   */
  private body: Buffer | null = null;
  private bodyLength = 0;
  private bodyFilled = 0;

  constructor(private readonly codec: WireCodec) {}

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.headerBytes === 0 && this.bodyLength === 0;
  }

  /** Bytes of a partial frame held in memory. */
  get bufferedBytes(): number {
    return this.bodyLength === 0 ? this.headerBytes : FRAME_HEADER_BYTES + this.bodyFilled;
  }

  /** Bytes of memory this decoder holds for a partial frame (buffer capacity). */
  get retainedBytes(): number {
    return this.body === null ? 0 : this.body.length;
  }

  /**
   * Feeds one chunk. Frames complete in it are passed to `sink` in order; the first
   * violation throws a ProtocolError after the frames before it were delivered.
   * Frames decoded in place may hold binary values that alias `chunk`: callers must not
   * reuse chunk memory while they keep such values (net sockets allocate fresh chunks).
   */
  feed(chunk: Uint8Array, sink: FrameSink): void {
    const length = chunk.length;
    let pos = 0;
    while (pos < length) {
      if (this.bodyLength === 0) {
        let n: number;
        if (this.headerBytes === 0 && length - pos >= FRAME_HEADER_BYTES) {
          n = ((chunk[pos]! << 24) >>> 0) + ((chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!);
          pos += FRAME_HEADER_BYTES;
        } else {
          while (this.headerBytes < FRAME_HEADER_BYTES && pos < length) {
            this.headerValue = this.headerValue * 256 + chunk[pos++]!;
            this.headerBytes++;
          }
          if (this.headerBytes < FRAME_HEADER_BYTES) return;
          n = this.headerValue;
          this.headerBytes = 0;
          this.headerValue = 0;
        }
        this.checkLength(n);
        if (length - pos >= n) {
          // Whole body in this chunk: decode in place, no copy.
          const frame = this.codec.decodeBody(chunk.subarray(pos, pos + n));
          pos += n;
          if (sink.onFrame(frame) === false) return;
          continue;
        }
        // Inside a body from here on; its buffer is allocated when bytes arrive.
        this.bodyLength = n;
        this.bodyFilled = 0;
        continue;
      }
      const take = Math.min(this.bodyLength - this.bodyFilled, length - pos);
      const needed = this.bodyFilled + take;
      if (this.body === null) this.body = Buffer.allocUnsafe(Math.min(this.bodyLength, Math.max(INITIAL_BODY_CAPACITY, take)));
      else if (needed > this.body.length) this.grow(needed);
      this.body.set(chunk.subarray(pos, pos + take), this.bodyFilled);
      this.bodyFilled += take;
      pos += take;
      if (this.bodyFilled === this.bodyLength) {
        const body = this.body; // capacity never exceeds bodyLength, so it is exactly full
        this.body = null;
        this.bodyFilled = 0;
        this.bodyLength = 0;
        if (sink.onFrame(this.codec.decodeBody(body)) === false) return;
      }
    }
  }

  private grow(needed: number): void {
    const old = this.body!;
    let capacity = old.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafe(Math.min(capacity, this.bodyLength));
    grown.set(old.subarray(0, this.bodyFilled));
    this.body = grown;
  }

  private checkLength(n: number): void {
    if (n === 0) throw new ProtocolError('frame_empty', 'frame length 0 is not allowed');
    if (n > this.codec.limits.maxFrame) {
      throw new ProtocolError('frame_too_large', `frame length ${n} exceeds ${this.codec.limits.maxFrame}`);
    }
  }
}

/** First allocation for a body split across chunks; doubled as more bytes arrive. */
const INITIAL_BODY_CAPACITY = 1024;
