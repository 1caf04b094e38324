import { DeliveryState } from '../domain/message.js';
import type { Metrics } from '../observability/metrics.js';
import type { MessageStore, StateChange } from '../store/message-store.js';
import type { RedeliverySchedule } from '../store/redelivery-schedule.js';
import type { GatewayLink, OutboundDelivery } from './gateway-link.js';

/**
 * Hands deliveries to the gateways holding the devices: one Thrift call per gateway and
 * chunk, in parallel across gateways, then records which PUSHes went out (`sent`).
 * What a gateway could not deliver stays in the device's inbox for its next session.
 */
export class Courier {
  constructor(
    private readonly link: GatewayLink,
    private readonly messages: MessageStore,
    private readonly redelivery: RedeliverySchedule,
    private readonly metrics: Metrics,
    private readonly chunk: number,
  ) {}

  /**
   * Returns the deliveries that reached a connected session. Devices whose gateway could
   * not be reached are handed to the redelivery schedule: they may still be connected.
   */
  async send(byGateway: ReadonlyMap<string, OutboundDelivery[]>): Promise<OutboundDelivery[]> {
    const sent: OutboundDelivery[] = [];
    const unreachable = new Set<string>();
    await Promise.all(
      [...byGateway].map(async ([gatewayId, deliveries]) => {
        for (let i = 0; i < deliveries.length; i += this.chunk) {
          const part = deliveries.slice(i, i + this.chunk);
          const outcome = await this.link.deliver(gatewayId, part);
          const missed = new Set(outcome.missed);
          for (const d of part) {
            if (!missed.has(d.deviceId)) sent.push(d);
            else if (outcome.unreachable) unreachable.add(d.deviceId);
          }
          this.metrics.deliveriesRouted.inc(part.length - missed.size);
        }
      }),
    );
    const changes: StateChange[] = [];
    for (const d of sent) if (d.messageId) changes.push({ messageId: d.messageId, deviceId: d.deviceId, state: DeliveryState.SENT });
    await Promise.all([this.messages.record(changes), this.redelivery.schedule([...unreachable])]);
    return sent;
  }
}

/** Deliveries grouped by the gateway that holds each device. */
export class GatewayBatches extends Map<string, OutboundDelivery[]> {
  put(gatewayId: string, delivery: OutboundDelivery): void {
    const list = this.get(gatewayId);
    if (list) list.push(delivery);
    else this.set(gatewayId, [delivery]);
  }
}
