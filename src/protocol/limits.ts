/**
 * Decoding limits. A frame is at most `maxFrame` bytes, so lengths inside the body are
 * bounded by it anyway; the finer limits stop a small frame from expanding into a large
 * or deep object graph (e.g. an array of 60,000 empty maps, or 30,000 nested arrays that
 * would overflow a recursive decoder's stack).
 */
export interface CodecLimits {
  /** Largest accepted body length N (bytes), docs/protocol.md default 65536. */
  readonly maxFrame: number;
  /** Longest array or map (entries) anywhere in a body. */
  readonly maxCollectionLength: number;
  /** Deepest nesting of arrays and maps; the top-level map is depth 1. */
  readonly maxDepth: number;
}

export const defaultCodecLimits: CodecLimits = Object.freeze({
  maxFrame: 65536,
  maxCollectionLength: 4096,
  maxDepth: 16,
});

/** Bytes in the length prefix of every frame. */
export const FRAME_HEADER_BYTES = 4;
