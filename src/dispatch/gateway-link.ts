import type { OutboundDelivery } from '../rpc/contract.js';

export type { OutboundDelivery };

/**
 * How the dispatch tier reaches gateways (Thrift GatewayService in production,
 * dispatch/gateway-directory.ts). Failures to reach a gateway are not thrown: its devices
 * count as not connected and their messages wait in the inbox.
 */
export interface GatewayLink {
  /** Returns the devices that had no matching session on that gateway. */
  deliver(gatewayId: string, deliveries: readonly OutboundDelivery[]): Promise<string[]>;
  kick(gatewayId: string, deviceId: string, sessionId: string, code: number, reason: string): Promise<void>;
}
