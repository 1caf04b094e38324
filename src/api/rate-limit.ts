import type { NextFunction, Request, Response } from 'express';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { PetrelError } from '../domain/errors.js';
import { consumeOrRefuse } from '../store/rate-limits.js';
import { appOf } from './server-auth.js';

/**
 * Per-app rate limit of the app-server API, counted in Redis (rate-limiter-flexible) so
 * that every API process shares one budget per app. A send costs one point per message —
 * a batch of 500 costs 500 — so the limit bounds the work an app can cause, not its
 * number of HTTP requests. Over the limit: 429 `rate_limited` with Retry-After.
 */
export function appRateLimit(limiter: RateLimiterAbstract, maxBatch: number) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const messages = (req.body as { messages?: unknown } | undefined)?.messages;
    // Capped at a batch's maximum: an oversized array is refused by validation, not charged.
    const cost = req.method === 'POST' && Array.isArray(messages) ? Math.min(maxBatch, Math.max(1, messages.length)) : 1;
    try {
      const state = await consumeOrRefuse(limiter, appOf(res).id, cost, `this app may send ${limiter.points} messages (or make as many calls) per second`);
      res.set('RateLimit-Limit', String(limiter.points));
      res.set('RateLimit-Remaining', String(state.remainingPoints));
    } catch (err) {
      if (err instanceof PetrelError && err.code === 'rate_limited') {
        res.set('Retry-After', String(Math.max(1, Math.ceil(Number(err.details?.['retryAfterMs'] ?? 0) / 1000))));
      }
      throw err;
    }
    next();
  };
}
