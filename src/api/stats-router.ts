import { Router } from 'express';
import { z } from 'zod';
import { storage } from '../store/redis.js';
import { BUCKET_MS, bucketStart, type Granularity, type StatsStore } from '../store/stats-store.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

/** Buckets one call returns at most: a month of hours, or the default retention of days. */
export const MAX_BUCKETS: Readonly<Record<Granularity, number>> = { hour: 24 * 31, day: 400 };
/** Without `from`: the last day of hours, or the last 30 days. */
const DEFAULT_BUCKETS: Readonly<Record<Granularity, number>> = { hour: 24, day: 30 };

/** A point in time as RFC 3339 (with an offset) or unix milliseconds. */
const instant = z.union([
  z.string().regex(/^\d{1,15}$/).transform(Number),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
], { error: 'an RFC 3339 date-time or unix milliseconds' });

export const statsQueryFields = z.strictObject({
  granularity: z.enum(['hour', 'day']).default('hour'),
  from: instant.optional(),
  to: instant.optional(),
});

function statsQuery(now: () => number) {
  return statsQueryFields.transform((q, ctx) => {
    const to = q.to ?? now();
    const from = q.from ?? bucketStart(q.granularity, to) - (DEFAULT_BUCKETS[q.granularity] - 1) * BUCKET_MS[q.granularity];
    if (from > to) ctx.addIssue({ code: 'custom', path: ['from'], message: 'from is after to' });
    else if ((bucketStart(q.granularity, to) - bucketStart(q.granularity, from)) / BUCKET_MS[q.granularity] >= MAX_BUCKETS[q.granularity]) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: `at most ${MAX_BUCKETS[q.granularity]} ${q.granularity} buckets per call` });
    }
    return { granularity: q.granularity, from, to };
  });
}

/** GET /v1/stats: the authenticated app's counters by UTC hour or day. Mounted behind serverAuth. */
export function statsRouter(stats: StatsStore, now: () => number = Date.now): Router {
  const router = Router();
  const schema = statsQuery(now);
  router.get('/v1/stats', async (req, res) => {
    const q = validate(schema, req.query, 'query_invalid');
    const buckets = await storage(stats.range(appOf(res).id, q.granularity, q.from, q.to));
    res.json({ granularity: q.granularity, buckets });
  });
  return router;
}
