import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../store/keys.js';
import type { DeliveryEvent } from './delivery-events.js';

/** What a receiver gets for each event: the event without the app (the receiver is the app). */
export type ReceiptEvent = Omit<DeliveryEvent, 'appId'>;

/** One batch of receipts for one app and callback URL: one job, one POST per attempt. */
export interface ReceiptJob {
  appId: string;
  url: string;
  events: ReceiptEvent[];
}

export const RECEIPT_QUEUE = 'receipts';

export interface ReceiptRetry {
  attempts: number;
  backoffMs: number;
}

/**
 * The queue receipt batches wait in. The job id is the batch's delivery id (the
 * `Petrel-Delivery` header receivers dedupe by): kept across retries and redrives, and a
 * redrive of a batch still queued is a no-op. Failed jobs are not kept by BullMQ: the
 * worker moves a batch to its app's dead letters before its last failure.
 */
export function createReceiptQueue(connection: Redis, keys: RedisKeys, retry: ReceiptRetry): Queue<ReceiptJob> {
  return new Queue<ReceiptJob>(RECEIPT_QUEUE, {
    connection,
    prefix: keys.queuePrefix(),
    skipWaitingForReady: true,
    defaultJobOptions: {
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs },
      removeOnComplete: true,
      removeOnFail: true,
    },
  });
}

export function createReceiptWorker(
  connection: Redis,
  keys: RedisKeys,
  options: { concurrency: number; stalledIntervalMs: number },
  run: (job: Job<ReceiptJob>) => Promise<void>,
): Worker<ReceiptJob> {
  return new Worker<ReceiptJob>(RECEIPT_QUEUE, run, {
    connection,
    prefix: keys.queuePrefix(),
    concurrency: options.concurrency,
    stalledInterval: options.stalledIntervalMs,
    lockDuration: options.stalledIntervalMs,
  });
}
