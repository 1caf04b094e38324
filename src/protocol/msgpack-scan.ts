import type { CodecLimits } from './limits.js';
import { ProtocolError } from './protocol-error.js';

/**
 * Structural pre-scan of one MessagePack body before msgpackr decodes it.
 *
 * msgpackr trusts headers: an array32 header makes it call `new Array(n)` before reading a
 * single element, and it recurses once per nesting level. Walking the bytes first, without
 * allocating, lets us enforce CodecLimits and reject what we never accept (extension types,
 * `__proto__` keys, non-scalar map keys, trailing bytes) in one linear pass. The walk is
 * iterative, so depth limits are checked before any recursion could happen.
 *
 * Format reference: https://github.com/msgpack/msgpack/blob/master/spec.md
 */
export class MsgpackScanner {
  /** Items still to read at each open nesting level (maps count keys and values). */
  private readonly remaining: number[];
  /** 1 where the level at that index is a map, 0 for an array. */
  private readonly isMap: number[];

  constructor(private readonly limits: CodecLimits) {
    this.remaining = new Array<number>(limits.maxDepth + 1).fill(0);
    this.isMap = new Array<number>(limits.maxDepth + 1).fill(0);
  }

  /** Throws ProtocolError unless `buf` is exactly one acceptable MessagePack map. */
  scan(buf: Uint8Array): void {
    const end = buf.length;
    const first = buf[0];
    if (first === undefined || !((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf)) {
      throw new ProtocolError('body_not_map', 'frame body must be a MessagePack map');
    }
    const { maxDepth, maxCollectionLength } = this.limits;
    const remaining = this.remaining;
    const isMap = this.isMap;
    let depth = 0; // number of open collections
    let pos = 0;
    let started = false;

    while (!started || depth > 0) {
      started = true;
      // Is the item at `pos` a key of the innermost open map? Keys are the items read when
      // the map's remaining count is even (a map of n entries starts at 2n).
      const atKey = depth > 0 && isMap[depth - 1] === 1 && (remaining[depth - 1]! & 1) === 0;
      if (depth > 0) remaining[depth - 1]!--;
      if (pos >= end) throw truncated();
      const b = buf[pos++]!;
      let collection = -1; // entries of a collection opening here
      let map = false;
      let skip = 0; // payload bytes to jump over
      let isString = false;

      if (b <= 0x7f || b >= 0xe0) {
        // fixint
      } else if (b <= 0x8f) {
        collection = b & 0x0f;
        map = true;
      } else if (b <= 0x9f) {
        collection = b & 0x0f;
      } else if (b <= 0xbf) {
        skip = b & 0x1f;
        isString = true;
      } else {
        switch (b) {
          case 0xc0: case 0xc2: case 0xc3:
            break;
          case 0xcc: case 0xd0: skip = 1; break;
          case 0xcd: case 0xd1: skip = 2; break;
          case 0xca: case 0xce: case 0xd2: skip = 4; break;
          case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
          case 0xc4: case 0xd9:
            skip = readLen(buf, pos, 1); pos += 1; isString = b === 0xd9; break;
          case 0xc5: case 0xda:
            skip = readLen(buf, pos, 2); pos += 2; isString = b === 0xda; break;
          case 0xc6: case 0xdb:
            skip = readLen(buf, pos, 4); pos += 4; isString = b === 0xdb; break;
          case 0xdc: collection = readLen(buf, pos, 2); pos += 2; break;
          case 0xdd: collection = readLen(buf, pos, 4); pos += 4; break;
          case 0xde: collection = readLen(buf, pos, 2); pos += 2; map = true; break;
          case 0xdf: collection = readLen(buf, pos, 4); pos += 4; map = true; break;
          case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
          case 0xc7: case 0xc8: case 0xc9:
            throw new ProtocolError('body_malformed', 'MessagePack extension types are not accepted');
          default: // 0xc1 is reserved and never valid
            throw new ProtocolError('body_malformed', `invalid MessagePack byte 0x${b.toString(16)}`);
        }
      }

      if (atKey) {
        if (!isString && !isIntegerByte(b)) {
          throw new ProtocolError('body_malformed', 'map keys must be strings or integers');
        }
        if (isString && skip === 9 && isProtoKey(buf, pos)) {
          throw new ProtocolError('body_forbidden_key', 'the key "__proto__" is not accepted');
        }
      }

      if (skip > 0) {
        if (pos + skip > end) throw truncated();
        pos += skip;
      }

      if (collection >= 0) {
        if (collection > maxCollectionLength) {
          throw new ProtocolError('body_too_long', `collection of ${collection} entries exceeds ${maxCollectionLength}`);
        }
        const items = map ? collection * 2 : collection;
        // Every item takes at least one byte: a header promising more items than bytes
        // left is a lie we can reject before reading on.
        if (items > end - pos) throw truncated();
        // An empty collection is a nesting level too: count it against maxDepth even
        // though it opens no level to track (the limit is "deepest nesting", docs/protocol.md).
        if (depth >= maxDepth) {
          throw new ProtocolError('body_too_deep', `nesting deeper than ${maxDepth}`);
        }
        if (items > 0) {
          remaining[depth] = items;
          isMap[depth] = map ? 1 : 0;
          depth++;
        }
      }
      // Close every level whose items are all read.
      while (depth > 0 && remaining[depth - 1] === 0) depth--;
    }

    if (pos !== end) throw new ProtocolError('body_malformed', 'trailing bytes after the MessagePack value');
  }
}

function isIntegerByte(b: number): boolean {
  return b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3);
}

function truncated(): ProtocolError {
  return new ProtocolError('body_malformed', 'MessagePack value is truncated');
}

function readLen(buf: Uint8Array, pos: number, bytes: 1 | 2 | 4): number {
  if (pos + bytes > buf.length) throw truncated();
  if (bytes === 1) return buf[pos]!;
  if (bytes === 2) return (buf[pos]! << 8) | buf[pos + 1]!;
  return buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
}

const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

function isProtoKey(buf: Uint8Array, pos: number): boolean {
  for (let i = 0; i < 9; i++) if (buf[pos + i] !== PROTO[i]) return false;
  return true;
}
