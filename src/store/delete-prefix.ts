import type { Redis } from 'ioredis';

/** Escapes `*`, `?`, `[`, `]` and `\` so SCAN MATCH treats them literally. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

/**
 * Deletes every key that starts with `prefix` (SCAN + UNLINK, never KEYS); returns how
 * many were deleted. Used to drop a test's or a benchmark's keyspace.
 */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  if (redis.options.keyPrefix) {
    // SCAN returns full key names, which UNLINK would prefix a second time.
    throw new Error('deletePrefix needs a client without the keyPrefix option');
  }
  if (prefix === '') throw new Error('deletePrefix refuses an empty prefix (it would delete every key)');
  const pattern = `${globLiteral(prefix)}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    // Buffers, so keys that are not valid UTF-8 are deleted too.
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next.toString();
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
