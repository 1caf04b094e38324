import type { OutboundDelivery } from '../rpc/contract.js';

export type { OutboundDelivery };

/** What a gateway did with a batch. */
export interface DeliverOutcome {
  /** Devices with no matching session there (or all of them when unreachable). */
  missed: string[];
  /**
   * The gateway could not be reached (not listed, or the call failed): its devices may
   * well still be connected to it, so the caller schedules a redelivery.
   */
  unreachable: boolean;
}

/**
 * How the dispatch tier reaches gateways (Thrift GatewayService in production,
 * dispatch/gateway-directory.ts). Failures to reach a gateway are not thrown: they are
 * reported in the outcome, and the messages wait in the devices' inboxes.
 */
export interface GatewayLink {
  deliver(gatewayId: string, deliveries: readonly OutboundDelivery[]): Promise<DeliverOutcome>;
  kick(gatewayId: string, deviceId: string, sessionId: string, code: number, reason: string): Promise<void>;
}
