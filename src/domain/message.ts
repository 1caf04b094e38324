import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * A message an app server sent, and the life of each of its device deliveries.
 * docs/architecture.md, "Send path".
 */

/** Who a unicast message goes to (write diffusion: an inbox entry per device). */
export type UnicastTarget =
  | { readonly kind: 'devices'; readonly ids: readonly string[] }
  | { readonly kind: 'aliases'; readonly ids: readonly string[] }
  | { readonly kind: 'accounts'; readonly ids: readonly string[] };

/**
 * Who a broadcast goes to (read diffusion: one entry in the app's log, fanned out by each
 * gateway). A topic target is kept as its own kind for listings, and filtered as the
 * one-topic condition; `condition` is the canonical text of domain/topic-condition.ts.
 */
export type BroadcastTarget =
  | { readonly kind: 'topic'; readonly topic: string }
  | { readonly kind: 'condition'; readonly condition: string }
  | { readonly kind: 'all' };

/** Exactly one kind of target per message. */
export type MessageTarget = UnicastTarget | BroadcastTarget;

export function isBroadcast(target: MessageTarget): target is BroadcastTarget {
  return target.kind === 'topic' || target.kind === 'condition' || target.kind === 'all';
}

export interface NotificationContent {
  readonly title: string;
  readonly body: string;
}

/** What the dispatcher needs to fan a stored message out. */
export interface StoredMessage {
  readonly id: string;
  readonly appId: string;
  readonly target: MessageTarget;
  /** Accepted-at, unix ms (PUSH `ts`). */
  readonly ts: number;
  /** Expiry, unix ms (PUSH `exp`); equal to `ts` for TTL 0 (deliver now or drop). */
  readonly exp: number;
  /** The whole PUSH frame, encoded once at accept time and written to sockets as is. */
  readonly frame: Buffer;
  /** A newer message with the same collapse id replaces this one while pending. */
  readonly collapseId?: string;
  /** Where delivery receipts of this message are POSTed (README, "Receipts"); none when absent. */
  readonly callbackUrl?: string;
}

/**
 * The state of one message for one device. `pending`: stored in the device's inbox,
 * device not connected. `sent`: handed to the device's gateway, not yet ACKed. The other
 * four are terminal. One enum for tracing, counters and docs.
 */
export const DeliveryState = {
  PENDING: 'pending',
  SENT: 'sent',
  DELIVERED: 'delivered',
  EXPIRED: 'expired',
  DROPPED: 'dropped',
  FAILED: 'failed',
} as const;
export type DeliveryState = (typeof DeliveryState)[keyof typeof DeliveryState];

export const terminalStates: ReadonlySet<DeliveryState> = new Set([
  DeliveryState.DELIVERED, DeliveryState.EXPIRED, DeliveryState.DROPPED, DeliveryState.FAILED,
]);

/**
 * Message-level state. `accepted`: durable, not yet fanned out. `dispatched`: in every
 * target's inbox (or pushed). `completed`: every target reached a terminal state.
 * `expired`: the TTL passed before every target did. `revoked`: a broadcast withdrawn
 * after it was sent (devices that have not shown it drop it).
 */
export type MessageState = 'scheduled' | 'cancelled' | 'accepted' | 'dispatched' | 'completed' | 'expired' | 'revoked';

/** `high` send jobs are taken before queued `normal` ones (a bulk send does not delay a login code). */
export type MessagePriority = 'high' | 'normal';

/**
 * Message ids are ULIDs: 48 bits of milliseconds then 80 random bits, monotonic within a
 * process. Sorting ids sorts by accept time, so a device inbox ordered by member (all
 * scores equal) replays in the order messages were accepted, at no cost.
 */
const nextUlid = monotonicFactory(pooledRandom());

/**
 * ulid's default generator asks the CSPRNG once per character (16 calls per id, ~60 µs
 * here); drawing from a refilled 4 KiB pool makes an id cost a few hundred nanoseconds.
 */
function pooledRandom(): () => number {
  const pool = new Uint32Array(1024);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    return pool[next++]! / 0x1_0000_0000;
  };
}
export function newMessageId(now = Date.now()): string {
  return nextUlid(now);
}

export const MESSAGE_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function expiryOf(ts: number, ttlSec: number): number {
  return ts + ttlSec * 1000;
}
