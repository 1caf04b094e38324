import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { WireCodec } from '../protocol/index.js';
import type { DeviceConnection } from './connection.js';
import type { DeviceAuthenticator } from './device-auth.js';
import type { SessionHooks } from './session-hooks.js';

/** What every connection shares: one object per gateway, so a connection carries one pointer to it. */
export interface GatewayContext {
  readonly codec: WireCodec;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly auth: DeviceAuthenticator;
  readonly hooks: SessionHooks;
  readonly sendBufferBytes: number;
  readonly authDeadlineTicks: number;
  /** PONG is always the same bytes: encoded once. */
  readonly pongFrame: Uint8Array;
  /** Frames and bytes a connection may send between two sweeps (Infinity: no limit). */
  readonly framesPerWindow: number;
  readonly bytesPerWindow: number;
  /** A BYE 4008 `retry`: a base wait plus a random share of the configured spread. */
  retryAfterLimitMs(): number;
  /** Coarse monotonic clock in ticks of 100 ms; small integers stay unboxed in V8. */
  now(): number;
  /** A new session number (a small integer: no string kept per idle connection). */
  nextSessionNo(): number;
  /** The wire session id (WELCOME `sid`) of a session number: unique across gateways and restarts. */
  sessionIdOf(sessionNo: number): string;
  livenessTicks(heartbeatSec: number): number;
  grantHeartbeat(requestedSec: number | undefined): number;
  countIn(t: number): void;
  countOut(t: number, frames?: number): void;
  /**
   * Whether a device that passed HELLO may start a session: false when its app is at its
   * limit of concurrent sessions (`appMaxSessions`, the app's own, or else
   * `gateway.limits.sessionsPerApp`). A device replacing its own session here takes no new place.
   */
  admitsSession(appId: string, deviceId: string, appMaxSessions: number | undefined): boolean;
  sessionStarted(conn: DeviceConnection): void;
  /** The device ACKed these ids: stop re-sending them and report them. */
  acknowledged(conn: DeviceConnection, ids: readonly string[]): void;
  connectionClosed(conn: DeviceConnection, code: number): void;
  /** The device's own SUB/UNSUB succeeded: the fan-out index follows. */
  topicsChanged(conn: DeviceConnection, topics: readonly string[], subscribe: boolean): void;
  transportReleased(conn: DeviceConnection): void;
}

export const TICK_MS = 100;
