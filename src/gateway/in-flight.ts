import type { DeviceConnection } from './connection.js';

/** A PUSH written to a session and not yet ACKed. */
export interface InFlightPush {
  readonly frame: Buffer;
  /** Message expiry, unix ms: no re-send after it. */
  readonly expiresAt: number;
  resends: number;
  /** Gateway tick at which it is sent again. */
  dueTick: number;
  /** Fanned out here from a broadcast publish: its ACK is reported in the compact form. */
  readonly broadcast: boolean;
}

export interface InFlightPolicy {
  ackTimeoutTicks: number;
  maxResends: number;
  /** Per session; beyond it PUSHes are still written but not re-sent (the inbox has them). */
  maxPerSession: number;
}

/**
 * PUSHes awaiting their ACK, per session, and their re-sends (docs/protocol.md, "Delivery
 * semantics": re-send while the device stays connected, with backoff). Only sessions with
 * something in flight are visited, by the gateway's existing sweep: no timer per message
 * and nothing at all for idle connections. A session that ends drops its entries; the
 * messages are still in the device's inbox and are replayed on its next session.
 */
export class InFlightTracker {
  private readonly sessions = new Map<DeviceConnection, Map<string, InFlightPush>>();

  constructor(private readonly policy: InFlightPolicy) {}

  /** False when this message is already in flight on this session (do not write it twice). */
  track(conn: DeviceConnection, messageId: string, frame: Buffer, expiresAt: number, nowTick: number, broadcast = false): boolean {
    let pushes = this.sessions.get(conn);
    if (!pushes) {
      pushes = new Map();
      this.sessions.set(conn, pushes);
    }
    if (pushes.has(messageId)) return false;
    if (pushes.size < this.policy.maxPerSession) {
      pushes.set(messageId, { frame, expiresAt, resends: 0, dueTick: nowTick + this.policy.ackTimeoutTicks, broadcast });
    }
    return true;
  }

  /** Settles ACKed ids; returns those that were broadcast fan-outs in flight (null: none). */
  acked(conn: DeviceConnection, ids: readonly string[]): string[] | null {
    const pushes = this.sessions.get(conn);
    if (!pushes) return null;
    let broadcasts: string[] | null = null;
    for (const id of ids) {
      const p = pushes.get(id);
      if (!p) continue;
      pushes.delete(id);
      if (p.broadcast) (broadcasts ??= []).push(id);
    }
    if (pushes.size === 0) this.sessions.delete(conn);
    return broadcasts;
  }

  ended(conn: DeviceConnection): void {
    this.sessions.delete(conn);
  }

  get size(): number {
    let n = 0;
    for (const pushes of this.sessions.values()) n += pushes.size;
    return n;
  }

  /** Re-sends what is due; gives up on a message after maxResends or its expiry. Returns re-sends. */
  sweep(nowTick: number, nowMs: number, resend: (conn: DeviceConnection, frame: Buffer) => boolean): number {
    let resent = 0;
    for (const [conn, pushes] of this.sessions) {
      for (const [id, p] of pushes) {
        if (p.dueTick > nowTick) continue;
        if (p.expiresAt <= nowMs || p.resends >= this.policy.maxResends) {
          pushes.delete(id);
          continue;
        }
        if (!resend(conn, p.frame)) break;
        p.resends++;
        resent++;
        p.dueTick = nowTick + this.policy.ackTimeoutTicks * 2 ** p.resends;
      }
      if (pushes.size === 0) this.sessions.delete(conn);
    }
    return resent;
  }
}
