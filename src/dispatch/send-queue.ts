import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../store/keys.js';

/** One job per accepted request (or per few milliseconds of requests), never per device. */
export interface SendJob {
  /** Message ids, each stored (store/message-store.ts) before the job was added. */
  ids: string[];
}

export const SEND_QUEUE = 'send';

/**
 * Retries of a failed send job: every step is idempotent, and the messages are durable,
 * so a job is retried (capped backoff) until it succeeds or its messages expire.
 */
const ATTEMPTS = 100;
function retryDelayMs(attemptsMade: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(attemptsMade, 10));
}

export function createSendQueue(connection: Redis, keys: RedisKeys): Queue<SendJob> {
  return new Queue<SendJob>(SEND_QUEUE, {
    connection,
    prefix: keys.queuePrefix(),
    // The API answers 503 at once while Redis is down rather than waiting to reconnect.
    skipWaitingForReady: true,
    defaultJobOptions: {
      attempts: ATTEMPTS,
      backoff: { type: 'capped' },
      removeOnComplete: true,
      removeOnFail: { count: 10_000 },
    },
  });
}

export interface SendWorkerOptions {
  concurrency: number;
  stalledIntervalMs: number;
}

/**
 * A BullMQ worker for send jobs. A dispatcher that dies mid-job loses its lock; another
 * (or its restart) takes the job over after `stalledIntervalMs` and runs it again.
 */
export function createSendWorker(connection: Redis, keys: RedisKeys, options: SendWorkerOptions, run: (job: Job<SendJob>) => Promise<void>): Worker<SendJob> {
  return new Worker<SendJob>(SEND_QUEUE, run, {
    connection,
    prefix: keys.queuePrefix(),
    concurrency: options.concurrency,
    stalledInterval: options.stalledIntervalMs,
    lockDuration: options.stalledIntervalMs,
    // A job may stall several times (repeated kill -9) and still must not be given up.
    maxStalledCount: 1000,
    settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade) },
  });
}
