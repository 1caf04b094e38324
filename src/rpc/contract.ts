/**
 * What crosses between the gateway and dispatch tiers, as plain data. The Thrift structs
 * of idl/*.thrift carry exactly this; both tiers convert at their Thrift edge, so the rest
 * of the code never touches generated classes.
 */

/** One frame for one device, handed by the dispatch tier to the gateway holding it. */
export interface OutboundDelivery {
  deviceId: string;
  /** Only to this session of the device ('' = whichever is current). */
  sessionId: string;
  /** A complete encoded frame (length prefix included), written to the socket as is. */
  frame: Buffer;
  /** PUSH frames: the id the device will ACK, and the message's expiry (unix ms). */
  messageId?: string;
  expiresAt?: number;
}

/** One entry of an app's broadcast log, for a gateway to fan out to its matching sessions. */
export interface BroadcastPublish {
  appId: string;
  seq: number;
  /** Topic condition (domain/topic-condition.ts); '' for every session of the app. */
  filter: string;
  /** Audience buckets [from, to) this call releases (domain/audience.ts). */
  fromBucket: number;
  toBucket: number;
  /** PUSH frame with `log` and `seq`. */
  frame: Buffer;
  messageId: string;
  expiresAt: number;
}

/** What gateways report to the dispatch tier. */
export interface SessionReport {
  kind: 'online' | 'offline';
  deviceId: string;
  appId: string;
  sessionId: string;
  closeCode?: number;
  cursors?: Record<string, number>;
  /** ONLINE: the device's number in its app. */
  deviceNo?: number;
  /** ONLINE: the version of the device's topic set its session was indexed with at HELLO. */
  topicsVersion?: number;
}

export interface AckReport {
  deviceId: string;
  appId: string;
  ids: string[];
  /** The device's number in its app (broadcast ACKs are counted by it). */
  deviceNo?: number;
}

/** ACKs of one broadcast, by device number (the compact form of a fan-out's ACKs). */
export interface BroadcastAcks {
  appId: string;
  messageId: string;
  deviceNos: number[];
}

export interface OpenedReport {
  deviceId: string;
  appId: string;
  messageId: string;
}

export interface SubscriptionChange {
  /** Matches the outcome to the request within one batch. */
  ref: number;
  deviceId: string;
  appId: string;
  topics: string[];
  subscribe: boolean;
}

export interface ReportBatch {
  gatewayId: string;
  /** In the order they happened (a device may go online, offline and online in one batch). */
  sessions: SessionReport[];
  acks: AckReport[];
  /** ACKs of PUSHes fanned out from a broadcast publish on this gateway. */
  broadcastAcks: BroadcastAcks[];
  opened: OpenedReport[];
  subscriptions: SubscriptionChange[];
}

export interface ReportOutcome {
  /** One per subscription change; `error` is '' on success, else a stable error code. */
  subscriptions: Array<{ ref: number; error: string }>;
}
