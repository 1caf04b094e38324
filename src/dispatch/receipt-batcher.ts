import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Logger } from '../observability/logger.js';
import type { DeliveryEventConsumer, EmittedEvent } from './delivery-events.js';
import type { ReceiptEvent, ReceiptJob } from './receipt-queue.js';

export interface ReceiptBatching {
  /** Events of one (app, URL) are held at most this long… */
  windowMs: number;
  /** …or until this many are held. */
  maxBatch: number;
}

/** A fresh `Petrel-Delivery` id (never integer-like: BullMQ refuses those as custom job ids). */
export function newDeliveryId(): string {
  return `rcpt_${randomBytes(12).toString('base64url')}`;
}

/**
 * Gathers the events of messages that have a callbackUrl, per (app, URL), and queues
 * each batch as one BullMQ job: a message to 1,000 devices is a few POSTs, not 1,000.
 * Events held when the process dies are lost (receipts are at most once for them; a
 * batch once queued is retried until delivered or dead-lettered).
 */
export class ReceiptBatcher implements DeliveryEventConsumer {
  private readonly held = new Map<string, { appId: string; url: string; events: ReceiptEvent[]; timer: NodeJS.Timeout }>();
  private readonly queued = new Set<Promise<void>>();

  constructor(
    private readonly queue: Queue<ReceiptJob>,
    private readonly batching: ReceiptBatching,
    private readonly log: Logger,
  ) {}

  onEvents(events: readonly EmittedEvent[]): void {
    for (const { event, callbackUrl } of events) {
      if (!callbackUrl) continue;
      const key = `${event.appId} ${callbackUrl}`;
      let batch = this.held.get(key);
      if (!batch) {
        batch = { appId: event.appId, url: callbackUrl, events: [], timer: setTimeout(() => this.release(key), this.batching.windowMs) };
        this.held.set(key, batch);
      }
      const { appId: _app, ...receipt } = event;
      batch.events.push(receipt);
      if (batch.events.length >= this.batching.maxBatch) this.release(key);
    }
  }

  private release(key: string): void {
    const batch = this.held.get(key);
    if (!batch) return;
    this.held.delete(key);
    clearTimeout(batch.timer);
    const delivery = newDeliveryId();
    const added = this.queue
      .add('receipt', { appId: batch.appId, url: batch.url, events: batch.events }, { jobId: delivery })
      .then(
        () => undefined,
        (err: unknown) => this.log.warn({ err: (err as Error).message, app: batch.appId, events: batch.events.length }, 'receipt batch could not be queued; dropped'),
      );
    this.queued.add(added);
    void added.finally(() => this.queued.delete(added));
  }

  /** Queues what is held and waits for it to be in Redis. */
  async close(): Promise<void> {
    for (const key of [...this.held.keys()]) this.release(key);
    await Promise.all(this.queued);
  }
}
