import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { PetrelError } from '../domain/errors.js';

/**
 * Takes `points` from `key`'s budget in a rate-limiter-flexible limiter (Redis-backed, so
 * shared by every process). Over the budget: `rate_limited` with `details.limit` and
 * `details.retryAfterMs`; the store unreachable: `storage_unavailable`. Used by the API's
 * per-app limit and the gateway's per-address registration limit.
 */
export async function consumeOrRefuse(limiter: RateLimiterAbstract, key: string, points: number, message: string): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key, points);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw new PetrelError('storage_unavailable', undefined, { cause: err });
    throw new PetrelError('rate_limited', message, { details: { limit: limiter.points, retryAfterMs: err.msBeforeNext } });
  }
}
