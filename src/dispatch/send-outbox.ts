import type { Queue } from 'bullmq';
import type { Logger } from '../observability/logger.js';
import type { MessageStore } from '../store/message-store.js';
import { PollLoop } from './poll-loop.js';
import { sendJobs, type SendJob } from './send-queue.js';

export interface SendOutboxOptions {
  intervalMs: number;
  /** An entry this old has lost its queue write (a healthy one leaves within milliseconds). */
  staleMs: number;
  batch: number;
}

/**
 * Re-queues accepted messages whose send job was never added: the API stored them (with
 * an outbox entry, in the same script call) and then failed to queue them, or died before
 * it could; or a process fanning them out itself (local-dispatch.ts) died before it was
 * done. Runs in every dispatcher; deterministic job ids keep two dispatchers from adding
 * a message twice. A message already `dispatched` is queued again only if no fan-out
 * marked it `pushed`: one stopped between the inbox writes and the PUSHes. A complete
 * fan-out is not repeated, as a repeat after the device's ACK would put the message back
 * in its inbox and push it again. Cancelled, revoked, completed, pushed or vanished ones
 * are only removed.
 */
export class SendOutbox {
  private readonly loop: PollLoop;

  constructor(
    private readonly messages: MessageStore,
    private readonly queue: Queue<SendJob>,
    private readonly options: SendOutboxOptions,
    private readonly log: Logger,
  ) {
    this.loop = new PollLoop('send outbox poll', options.intervalMs, () => this.poll(), log);
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass; returns how many messages were re-queued. */
  async poll(now = Date.now()): Promise<number> {
    const entries = await this.messages.unqueued(now - this.options.staleMs, this.options.batch);
    if (entries.length === 0) return 0;
    const pending = entries.flatMap((e) => (e.state === 'accepted' || e.state === 'scheduled' || (e.state === 'dispatched' && !e.pushed) ? [e] : []));
    if (pending.length > 0) {
      await this.queue.addBulk(sendJobs(pending, now, (id) => `outbox-${id}`));
      this.log.warn({ messages: pending.length }, 'send jobs re-queued from the outbox');
    }
    await this.messages.queued(entries.map((e) => e.id));
    return pending.length;
  }
}
