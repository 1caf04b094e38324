import type { Queue } from 'bullmq';
import { Router } from 'express';
import { z } from 'zod';
import { PetrelError } from '../domain/errors.js';
import type { ReceiptJob } from '../dispatch/receipt-queue.js';
import type { AppStore } from '../store/app-store.js';
import type { ReceiptDeadLetters } from '../store/receipt-dead-letters.js';
import { storage } from '../store/redis.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

export const limitQuery = z.strictObject({
  limit: z.string().regex(/^\d{1,4}$/, 'an integer 1..1000').transform(Number).pipe(z.number().min(1).max(1000)).default(100),
});

export interface ReceiptsRouterDeps {
  apps: AppStore;
  deadLetters: ReceiptDeadLetters;
  queue: Queue<ReceiptJob>;
}

/**
 * The authenticated app's receipts: its signing secret, its dead letters (batches that
 * ran out of attempts, newest first) and their redrive. Mounted behind serverAuth.
 */
export function receiptsRouter(deps: ReceiptsRouterDeps): Router {
  const router = Router();

  router.get('/v1/receipts/secret', async (_req, res) => {
    res.json({ secret: await storage(deps.apps.receiptSecret(appOf(res).id)) });
  });

  router.get('/v1/receipts/dead-letters', async (req, res) => {
    const { limit } = validate(limitQuery, req.query, 'query_invalid');
    res.json({ deadLetters: await storage(deps.deadLetters.list(appOf(res).id, limit)) });
  });

  // Taken off the list first (atomically), then queued under their delivery ids again; if
  // queueing fails they go back on the list, so a redrive never loses a batch.
  router.post('/v1/receipts/dead-letters/redrive', async (req, res) => {
    const { limit } = validate(limitQuery, req.query, 'query_invalid');
    const appId = appOf(res).id;
    const letters = await storage(deps.deadLetters.take(appId, limit));
    try {
      await deps.queue.addBulk(letters.map((l) => ({
        name: 'receipt',
        data: { appId, url: l.url, events: l.events as ReceiptJob['events'] },
        opts: { jobId: l.delivery },
      })));
    } catch (err) {
      // Oldest first, as taken: pushed back in that order, the newest ends up first again.
      await deps.deadLetters.add(appId, letters).catch(() => undefined);
      throw new PetrelError('storage_unavailable', undefined, { cause: err });
    }
    res.status(202).json({ redriven: letters.length });
  });

  return router;
}
