import { DeliveryState } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { ExpirySchedule } from '../store/expiry-schedule.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { MessageStore, StateChange } from '../store/message-store.js';
import type { DeliveryEvents } from './delivery-events.js';
import { PollLoop } from './poll-loop.js';

/**
 * Marks the devices of expired traced messages that never got them as `expired`, with
 * their events. The trace decides, not the inbox: the inbox key expires with its
 * longest-lived entry, so by now the entry may be gone without an ACK. Every device here
 * is in the trace, where `delivery_state_2` never leaves a terminal state, so an ACK or
 * a replay racing the sweep is counted once, whichever comes first.
 */
export class ExpirySweep {
  private readonly loop: PollLoop;

  constructor(
    private readonly schedule: ExpirySchedule,
    private readonly inbox: InboxStore,
    private readonly messages: MessageStore,
    private readonly events: DeliveryEvents,
    private readonly options: { intervalMs: number; batch: number },
    log: Logger,
  ) {
    this.loop = new PollLoop('expiry sweep', options.intervalMs, () => this.poll(), log);
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One pass; returns the number of messages claimed. */
  async poll(now = Date.now()): Promise<number> {
    const due = await this.schedule.claim(this.options.batch, now);
    await Promise.all(
      due.map(async (messageId) => {
        const devices = await this.messages.unsettledDevices(messageId);
        const changes: StateChange[] = devices.map((deviceId) => ({ messageId, deviceId, state: DeliveryState.EXPIRED }));
        this.events.counted(await this.messages.record(changes), now);
        // Left in an inbox, the entry would only be skipped (and removed) at the next replay.
        await Promise.all(devices.map((d) => this.inbox.remove(d, [messageId])));
        await this.schedule.done([messageId]);
      }),
    );
    return due.length;
  }
}
