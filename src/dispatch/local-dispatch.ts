import type { Queue } from 'bullmq';
import { isBroadcast } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MessageStore, NewMessage } from '../store/message-store.js';
import type { MessageDispatcher, UnicastMessage } from './message-dispatcher.js';
import { sendJobs, type SendJob } from './send-queue.js';

/** Where the intake hands messages it has just made durable (message-intake.ts). */
export interface DispatchHandoff {
  /**
   * Takes what it will dispatch itself, at once; returns the rest, which the intake
   * queues as send jobs. Never throws.
   */
  take(messages: readonly NewMessage[]): readonly NewMessage[];
}

/**
 * The short path from accept to PUSH in a process that runs a dispatcher beside the
 * intake (`petrel all`, a dispatcher's own sends): immediate unicast messages are fanned
 * out right after the script call that stores them, without a BullMQ job in between. A
 * send job costs two more round trips before dispatch starts (adding it, and the worker
 * taking it) and about a quarter of the process's CPU at 1,000 messages/s
 * (docs/performance.md). The messages were stored with their send-outbox entry, which is
 * removed only once their fan-out is done, so nothing depends on this process staying
 * alive: when it dies mid-way, a dispatcher finds the entry stale and queues the message
 * (send-outbox.ts), and the fan-out, idempotent, runs again.
 *
 * BullMQ keeps what needs it: scheduled messages, broadcasts, retries (a fan-out that
 * fails here becomes a send job), and bursts — beyond `maxInFlight` fan-outs at once,
 * messages are queued as before, and any dispatcher of the deployment takes them. A
 * batch queued that way may reach a device after a later one fanned out here; the
 * device's inbox, and so a replay, stays in accept order.
 */
export class LocalDispatch implements DispatchHandoff {
  private inFlight = 0;
  private closed = false;
  private idle: Promise<void> | null = null;
  private becameIdle: () => void = () => {};

  constructor(
    private readonly dispatcher: MessageDispatcher,
    private readonly messages: MessageStore,
    private readonly queue: Queue<SendJob>,
    private readonly maxInFlight: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  take(batch: readonly NewMessage[]): readonly NewMessage[] {
    if (this.closed || this.inFlight >= this.maxInFlight) return batch;
    const mine: UnicastMessage[] = [];
    const rest: NewMessage[] = [];
    for (const m of batch) {
      // Scheduled messages wait in BullMQ (delayed jobs) and stay cancellable until then.
      if (m.sendAt === undefined && !isBroadcast(m.target)) mine.push(m as UnicastMessage);
      else rest.push(m);
    }
    if (mine.length === 0) return batch;
    this.inFlight++;
    void this.run(mine).finally(() => {
      this.inFlight--;
      if (this.inFlight === 0) this.becameIdle();
    });
    return rest;
  }

  private async run(messages: UnicastMessage[]): Promise<void> {
    const ids = messages.map((m) => m.id);
    let fannedOut = false;
    try {
      await this.dispatcher.dispatchUnicast(messages);
      fannedOut = true;
      this.metrics.localDispatches.inc({ outcome: 'dispatched' }, messages.length);
    } catch (err) {
      // A send job runs the fan-out again, with BullMQ's retries and backoff.
      this.log.warn({ err: (err as Error).message, messages: messages.length }, 'local dispatch failed; queued as a send job');
      try {
        await this.queue.addBulk(sendJobs(messages));
        this.metrics.localDispatches.inc({ outcome: 'queued' }, messages.length);
      } catch (queueErr) {
        this.log.warn({ err: (queueErr as Error).message, messages: messages.length }, 'queueing failed too; the send outbox re-queues them');
        return;
      }
    }
    // Out of the outbox. Should that fail after a complete fan-out, the messages are
    // marked `pushed`, so that the outbox poll only removes their entries rather than
    // fanning them out again (a write spared in the usual case: the entry gone, the mark
    // is not needed). After a fallback the send job marks them when it has run.
    await this.messages.queued(ids).catch(async (err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'removing outbox entries failed; the outbox poll does');
      if (fannedOut) await this.dispatcher.markPushed(ids);
    });
  }

  /** Takes nothing more; waits for the fan-outs in progress. */
  close(): Promise<void> {
    this.closed = true;
    if (this.inFlight === 0) return Promise.resolve();
    this.idle ??= new Promise<void>((resolve) => (this.becameIdle = resolve));
    return this.idle;
  }
}
