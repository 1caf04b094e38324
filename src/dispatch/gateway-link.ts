import type { BroadcastPublish, OutboundDelivery } from '../rpc/contract.js';

export type { BroadcastPublish, OutboundDelivery };

/** A live gateway and its load (authenticated sessions), as it last announced them. */
export interface LiveGateway {
  id: string;
  load: number;
}

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
  /** Gateways announced in the registry now. */
  live(): Promise<LiveGateway[]>;
  /**
   * Fans a broadcast out on one gateway: sessions reached, and whether it arrived there
   * after a later seq of the app's log (`late`); null when the gateway could not be reached.
   */
  publish(gatewayId: string, entry: BroadcastPublish): Promise<{ sent: number; late: boolean } | null>;
  /** Tells the gateway holding a device that the app server changed its topics (best effort: logged on failure). */
  changeTopics(gatewayId: string, deviceId: string, topics: readonly string[], subscribe: boolean): Promise<void>;
  /** Gives the gateway holding a device its whole topic set (best effort: logged on failure). */
  setTopics(gatewayId: string, deviceId: string, topics: readonly string[]): Promise<void>;
  /** Tells a gateway a broadcast was revoked: sessions told, or null when unreachable. */
  revoke(gatewayId: string, appId: string, messageId: string, frame: Buffer, filter: string): Promise<number | null>;
}
