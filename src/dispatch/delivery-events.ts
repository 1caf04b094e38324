import { DeliveryState } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CountedChange } from '../store/message-store.js';

/**
 * What happened to one message for one device (or one target name that reached no
 * device), once. The receipts an app server gets and the per-app statistics are both
 * built from these (docs/architecture.md, "Delivery events").
 */
export type DeliveryEventType = 'delivered' | 'opened' | 'expired' | 'invalid_target';

export interface DeliveryEvent {
  type: DeliveryEventType;
  appId: string;
  messageId: string;
  /** The device, when the event is about one. */
  deviceId?: string;
  /** The alias or account that resolved to no device (`invalid_target` only). */
  alias?: string;
  account?: string;
  /**
   * Why an `expired` message will not reach the device: its TTL, the device's inbox
   * overflowed, or a newer message with the same collapse id replaced it.
   */
  reason?: 'ttl' | 'inbox_overflow' | 'replaced';
  /** Unix ms. */
  at: number;
  /**
   * Broadcasts: how many devices this one event stands for (ACKs are counted in Redis per
   * batch, not per device, so a broadcast to a million devices is not a million events).
   */
  count?: number;
  /** The campaign the message belongs to, if any. */
  campaignId?: string;
}

/** A delivery event as consumers receive it: with the receipt URL of its message, when it has one. */
export interface EmittedEvent {
  event: DeliveryEvent;
  callbackUrl?: string;
}

/** Something that hangs off the event seam. Called synchronously; must not throw or block. */
export interface DeliveryEventConsumer {
  onEvents(events: readonly EmittedEvent[]): void;
}

/**
 * The one seam delivery events pass through: the dispatch tier emits here where a
 * device's delivery really changed state (the store scripts say whether a change
 * counted), and each consumer (statistics, receipts) takes them in process, where it
 * batches before writing to Redis. Passed down through deps; one per dispatcher.
 */
export class DeliveryEvents {
  constructor(
    private readonly consumers: readonly DeliveryEventConsumer[],
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  emit(events: readonly EmittedEvent[]): void {
    if (events.length === 0) return;
    for (const { event } of events) this.metrics.deliveryEvents.labels(event.type).inc(event.count ?? 1);
    for (const consumer of this.consumers) {
      try {
        consumer.onEvents(events);
      } catch (err) {
        // A consumer's bug must not fail the ACK or report that produced the event.
        this.log.error({ err }, 'delivery event consumer failed');
      }
    }
  }

  /** Emits the events of state changes that counted (`sent` has none). */
  counted(changes: readonly CountedChange[], at = Date.now()): void {
    const events: EmittedEvent[] = [];
    for (const c of changes) {
      const event = eventOfState(c, at);
      if (event) events.push(emitted(event, c.callbackUrl));
    }
    this.emit(events);
  }
}

function eventOfState(c: CountedChange, at: number): DeliveryEvent | null {
  const base = { appId: c.appId, messageId: c.messageId, deviceId: c.deviceId, at, ...(c.campaignId ? { campaignId: c.campaignId } : {}) };
  switch (c.state) {
    case DeliveryState.DELIVERED: return { type: 'delivered', ...base };
    case DeliveryState.EXPIRED: return { type: 'expired', ...base, reason: 'ttl' };
    // Dropped after dispatch: the device's inbox overflowed, or a collapse replaced it (TTL 0
    // drops are part of the fan-out, message-dispatcher.ts).
    case DeliveryState.DROPPED: return { type: 'expired', ...base, reason: c.reason ?? 'inbox_overflow' };
    case DeliveryState.FAILED: return { type: 'invalid_target', ...base };
    default: return null;
  }
}

/** The event of a message's fan-out: the message's receipt URL comes along when it has one. */
export function emitted(event: DeliveryEvent, callbackUrl: string | undefined): EmittedEvent {
  return callbackUrl ? { event, callbackUrl } : { event };
}
