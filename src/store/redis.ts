import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { PetrelError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';

/**
 * One ioredis connection per concern. Auto-pipelining batches the commands that many
 * connections issue in the same tick (a HELLO storm) into one round trip.
 * `maxRetriesPerRequest` is finite so callers fail fast (and answer "unavailable")
 * while Redis is down instead of queueing work forever.
 */
export function createRedis(url: string, log: Logger, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
    ...options,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
  return redis;
}

/** A Redis failure while serving a request means "unavailable", never a 500. */
export async function storage<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof PetrelError) throw err;
    throw new PetrelError('storage_unavailable', undefined, { cause: err });
  }
}

/**
 * Runs a pipeline of `count` commands and returns their replies in order; the first
 * command that failed (or a discarded pipeline) throws.
 */
export async function pipelineReplies(pipeline: ChainableCommander, count: number): Promise<unknown[]> {
  if (count === 0) return [];
  const results = (await pipeline.exec()) ?? [];
  return Array.from({ length: count }, (_, i) => {
    const [err, value] = results[i] ?? [new Error('pipeline discarded'), null];
    if (err) throw err;
    return value;
  });
}
