import { DeliveryState } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { ExpirySchedule } from '../store/expiry-schedule.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { MessageStore, StateChange } from '../store/message-store.js';
import type { DeliveryEvents } from './delivery-events.js';

/**
 * Marks the devices of expired traced messages that never got them as `expired`, with
 * their events. Each device's inbox entry is removed first and only a removed entry
 * counts: an ACK or a replay that got there first removed it, so nothing is counted twice.
 */
export class ExpirySweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly schedule: ExpirySchedule,
    private readonly inbox: InboxStore,
    private readonly messages: MessageStore,
    private readonly events: DeliveryEvents,
    private readonly options: { intervalMs: number; batch: number },
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.poll().then(
        () => undefined,
        (err: unknown) => this.log.warn({ err: (err as Error).message }, 'expiry sweep failed'),
      ).finally(() => (this.running = null));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; returns the number of messages claimed. */
  async poll(now = Date.now()): Promise<number> {
    const due = await this.schedule.claim(this.options.batch, now);
    await Promise.all(
      due.map(async (messageId) => {
        const devices = await this.messages.unsettledDevices(messageId);
        const removed = await Promise.all(devices.map((d) => this.inbox.remove(d, [messageId])));
        const changes: StateChange[] = devices.filter((_, i) => removed[i]!.length > 0).map((deviceId) => ({ messageId, deviceId, state: DeliveryState.EXPIRED }));
        this.events.counted(await this.messages.record(changes), now);
      }),
    );
    return due.length;
  }
}
