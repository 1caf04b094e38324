import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import type { MessagePriority } from '../domain/message.js';
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

/** The BullMQ job of a scheduled message (a custom id, so that cancelling can remove it). */
export function scheduledJobId(messageId: string): string {
  return `at-${messageId}`;
}

export interface SendJobSpec {
  readonly id: string;
  readonly sendAt?: number;
  readonly priority?: MessagePriority;
}

/**
 * The jobs of a set of messages: one for the normal sends, one for the high-priority sends
 * (LIFO: taken before everything waiting), and one delayed job per scheduled message.
 * `jobIdOf` gives the immediate jobs deterministic ids, one per message (outbox re-queues:
 * two dispatchers re-queueing the same message add one job).
 */
export function sendJobs(messages: readonly SendJobSpec[], now = Date.now(), jobIdOf?: (messageId: string) => string): Array<{ name: string; data: SendJob; opts?: JobsOptions }> {
  const normal: string[] = [];
  const high: string[] = [];
  const jobs: Array<{ name: string; data: SendJob; opts?: JobsOptions }> = [];
  for (const m of messages) {
    if (m.sendAt !== undefined && m.sendAt > now) jobs.push({ name: 'send', data: { ids: [m.id] }, opts: { jobId: scheduledJobId(m.id), delay: m.sendAt - now } });
    else if (jobIdOf) jobs.push({ name: 'send', data: { ids: [m.id] }, opts: { jobId: jobIdOf(m.id), ...(m.priority === 'high' ? { lifo: true } : {}) } });
    else (m.priority === 'high' ? high : normal).push(m.id);
  }
  if (high.length > 0) jobs.push({ name: 'send', data: { ids: high }, opts: { lifo: true } });
  if (normal.length > 0) jobs.push({ name: 'send', data: { ids: normal } });
  return jobs;
}
