import type { NotificationFields, PushFrame } from '../../src/protocol/index.js';

export type { NotificationFields };

/**
 * A delivered PUSH as the app sees it. Names are spelled out; the wire field each comes
 * from is given (docs/protocol.md, frame 7).
 */
export interface PushMessage {
  /** `id`: unique message id, the dedup key, and what opened() takes. */
  readonly id: string;
  /** `ts`: when the service accepted the message, unix ms (server clock). */
  readonly acceptedAt: number;
  /** `exp`: expiry, unix ms (server clock). */
  readonly expiresAt: number;
  /** `data`: the sender's payload, passed through untouched; absent when none was sent. */
  readonly data?: unknown;
  /** `n`: notification to display; set for 'notification' events, absent for 'message'. */
  readonly notification?: NotificationFields;
  /** `log` + `seq`: topic / broadcast log position, for messages delivered from a log. */
  readonly log?: string;
  readonly seq?: number;
  /** `cid`: campaign id, for campaign sends. */
  readonly campaignId?: string;
}

export function toPushMessage(push: PushFrame): PushMessage {
  return {
    id: push.id,
    acceptedAt: push.ts,
    expiresAt: push.exp,
    ...(push.data !== undefined ? { data: push.data } : {}),
    ...(push.n !== undefined ? { notification: push.n } : {}),
    ...(push.log !== undefined ? { log: push.log } : {}),
    ...(push.seq !== undefined ? { seq: push.seq } : {}),
    ...(push.cid !== undefined ? { campaignId: push.cid } : {}),
  };
}
