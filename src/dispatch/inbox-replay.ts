import { DeliveryState } from '../domain/message.js';
import type { Metrics } from '../observability/metrics.js';
import { FrameType, type WireCodec } from '../protocol/index.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { MessageStore } from '../store/message-store.js';
import type { GatewayBatches } from './courier.js';
import type { DeliveryEvents } from './delivery-events.js';
import type { OutboundDelivery } from './gateway-link.js';

/**
 * Replays a device's inbox to one of its sessions, oldest first, preceded by RESYNC when
 * the inbox overflowed since its last session. Used when a device comes online and when
 * a delivery to a briefly unreachable gateway is retried.
 */
export class InboxReplay {
  private readonly resyncOverflow: Buffer;

  constructor(
    codec: WireCodec,
    private readonly inbox: InboxStore,
    private readonly messages: MessageStore,
    private readonly metrics: Metrics,
    private readonly events: DeliveryEvents,
  ) {
    this.resyncOverflow = codec.encode({ t: FrameType.RESYNC, reason: 'inbox_overflow' });
  }

  /** Adds the device's pending frames to `plan`; returns how many messages it holds. */
  async add(plan: GatewayBatches, deviceId: string, gatewayId: string, sessionId: string): Promise<number> {
    const [ids, overflowed] = await Promise.all([this.inbox.pending(deviceId), this.inbox.overflowed(deviceId)]);
    if (overflowed) plan.put(gatewayId, { deviceId, sessionId, frame: this.resyncOverflow });
    if (ids.length === 0) return 0;
    const loaded = await this.messages.load(ids);
    const now = Date.now();
    const gone: string[] = [];
    loaded.forEach((m, i) => {
      if (!m || m.exp <= now) gone.push(ids[i]!);
      else plan.put(gatewayId, { deviceId, sessionId, frame: m.frame, messageId: m.id, expiresAt: m.exp });
    });
    // Expired entries leave the inbox here, and that is when their `expired` event is
    // emitted: removal happens once per entry, so the event does too. (The trace derives
    // `expired` from the expiry; the state written here only says the same.)
    if (gone.length > 0) {
      const removed = await this.inbox.remove(deviceId, gone);
      this.events.counted(await this.messages.record(removed.map((messageId) => ({ messageId, deviceId, state: DeliveryState.EXPIRED }))));
    }
    this.metrics.inboxReplayed.inc(ids.length - gone.length);
    return ids.length - gone.length;
  }

  /** After the plan was sent: a RESYNC that reached its device is not sent again. */
  async delivered(sent: readonly OutboundDelivery[]): Promise<void> {
    await Promise.all(sent.filter((d) => d.frame === this.resyncOverflow).map((d) => this.inbox.clearOverflow(d.deviceId)));
  }
}
