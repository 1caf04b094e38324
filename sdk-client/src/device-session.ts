import {
  CloseCode,
  FrameType,
  ProtocolError,
  signHello,
  type ClientFrame,
  type HelloFrame,
  type PushFrame,
  type RegisteredFrame,
  type ServerFrame,
  type WelcomeFrame,
} from '../../src/protocol/index.js';
import { AckBatcher } from './ack-batcher.js';
import { Heartbeat, type HeartbeatOwner } from './connection-loop/heartbeat.js';
import type { DeliveryLedger } from './delivery-ledger.js';
import type { FrameTransport, LinkEnd, LinkHandler } from './device-link.js';
import { PetrelError, isPetrelError } from './errors.js';
import type { ClientEvents } from './events.js';
import { helloNonce } from './nonce.js';
import type { ClientConfig } from './options.js';
import { toPushMessage } from './push-message.js';
import type { SubscriptionRequests } from './subscription-requests.js';

/** How one connection ended, for the client's reconnect decision. */
export interface SessionEnd {
  /** BYE from the gateway, if it sent one. */
  readonly byeCode?: number;
  readonly byeReason?: string;
  readonly retryMs?: number;
  /** The SDK's own reason: connect_timeout, heartbeat_timeout, store_failed, socket error... */
  readonly reason?: string;
  /** When WELCOME arrived; null if the connection never authenticated. */
  readonly authenticatedAt: number | null;
  /** close() ended it: never reconnect. */
  readonly closedByClient: boolean;
}

/** What a session needs from its client; one object shared by all of a client's sessions. */
export interface SessionContext {
  readonly config: ClientConfig;
  readonly ledger: DeliveryLedger;
  readonly requests: SubscriptionRequests;
  emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void;
  onReady(session: DeviceSession, welcome: WelcomeFrame): void;
  onEnd(session: DeviceSession, end: SessionEnd): void;
}

/** connecting -> [registering -> registered (saving credentials)] -> authenticating -> ready -> ended */
type Phase = 'connecting' | 'registering' | 'registered' | 'authenticating' | 'ready' | 'ended';

const PING: ClientFrame = Object.freeze({ t: FrameType.PING });

/**
 * One connection's conversation with the gateway (docs/protocol.md): REGISTER if the device
 * has no credentials, HELLO, then PUSH/ACK, PING, SUB/SUBACK until someone says BYE. It
 * writes through a FrameTransport and never touches a socket, so its rules read apart from
 * I/O; reconnecting is the client's business.
 *
 * A process may connect thousands of these back to back, so the connect path allocates
 * little: one timer for the connect deadline and then the heartbeat, no closures of its
 * own, and the ACK batcher only once a PUSH arrives.
 */
export class DeviceSession implements LinkHandler, HeartbeatOwner {
  private phase: Phase = 'connecting';
  private transport: FrameTransport | null = null;
  private readonly heartbeat = new Heartbeat(this);
  /** Created by the first PUSH. */
  private acks: AckBatcher | null = null;
  private bye: { code: number; reason?: string; retry?: number } | null = null;
  private reason: string | undefined;
  private authenticatedAt: number | null = null;
  private closedByClient = false;
  /** Created on demand by close(); most sessions end without anyone waiting for it. */
  private endedSignal: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(private readonly ctx: SessionContext) {}

  /** Settles when the link has closed and the client was told. */
  get ended(): Promise<void> {
    if (this.endedSignal === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.endedSignal = { promise, resolve };
      if (this.phase === 'ended') resolve();
    }
    return this.endedSignal.promise;
  }

  /** Binds the transport and starts the deadline for reaching WELCOME. */
  start(transport: FrameTransport): void {
    this.transport = transport;
    this.heartbeat.startDeadline(this.ctx.config.connectTimeoutMs);
  }

  /** Sends on an authenticated connection; false if there is none. */
  send(frame: ClientFrame): boolean {
    return this.phase === 'ready' && this.transport !== null && this.transport.send(frame);
  }

  /** close(): persist and ACK what was received, say BYE 1000, wait for the link to close. */
  async close(): Promise<void> {
    this.closedByClient = true;
    if (this.phase === 'ended') return this.ended;
    this.stopTimers();
    if (this.acks !== null) {
      try {
        await this.acks.drain();
      } catch (err) {
        this.reportError(err);
      }
    }
    const transport = this.transport;
    if (transport !== null) {
      if (this.phase === 'connecting') {
        transport.destroy();
      } else {
        transport.send({ t: FrameType.BYE, code: CloseCode.NORMAL });
        transport.end(this.ctx.config.closeTimeoutMs);
      }
    }
    return this.ended;
  }

  onOpen(): void {
    if (this.phase !== 'connecting') return;
    if (this.ctx.ledger.credentials === null) {
      this.phase = 'registering';
      const { appId, clientKey, pkg } = this.ctx.config;
      this.write({ t: FrameType.REGISTER, app: appId, key: clientKey, ...(pkg !== undefined ? { pkg } : {}) });
    } else {
      this.sendHello();
    }
  }

  onFrame(frame: ServerFrame): void {
    // Any inbound frame counts as liveness (docs/protocol.md, "Liveness"); before WELCOME
    // this is a no-op, so nothing but WELCOME lifts the connect deadline.
    this.heartbeat.touch();
    switch (frame.t) {
      case FrameType.REGISTERED:
        if (this.phase === 'registering') void this.onRegistered(frame);
        return;
      case FrameType.WELCOME:
        if (this.phase === 'authenticating') this.onWelcome(frame);
        return;
      case FrameType.PONG:
        return;
      case FrameType.PUSH:
        this.onPush(frame);
        return;
      case FrameType.SUBACK:
        this.ctx.requests.settle(frame.rid, frame.ok, frame.err);
        return;
      case FrameType.RESYNC:
        this.ctx.emit('resync', { reason: frame.reason });
        return;
      case FrameType.CURSOR:
        this.ctx.ledger.advanceCursor(frame.log, frame.seq);
        this.persist();
        return;
      case FrameType.REVOKE: {
        const shown = this.ctx.ledger.recordRevoked(frame.id);
        this.persist();
        this.ctx.emit('revoked', { id: frame.id, shown });
        return;
      }
      case FrameType.BYE:
        this.bye = frame;
        // The gateway closes after BYE; end our side too rather than wait for it.
        this.transport?.end(this.ctx.config.closeTimeoutMs);
        return;
      case FrameType.ERROR:
        if (frame.rid !== undefined && this.ctx.requests.fail(frame.rid, frame.code, frame.msg)) return;
        this.ctx.emit('error', new PetrelError('server_error', frame.msg, { err: frame.code }));
        return;
    }
  }

  onEnd(end: LinkEnd): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.stopTimers();
    this.acks?.dispose();
    if (end.error !== undefined) {
      this.reason ??= describe(end.error);
      if (end.error instanceof ProtocolError) {
        this.ctx.emit('error', new PetrelError('protocol_violation', end.error.message, { cause: end.error }));
      }
    }
    this.ctx.onEnd(this, {
      ...(this.bye !== null ? { byeCode: this.bye.code } : {}),
      ...(this.bye?.reason !== undefined ? { byeReason: this.bye.reason } : {}),
      ...(this.bye?.retry !== undefined ? { retryMs: this.bye.retry } : {}),
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      authenticatedAt: this.authenticatedAt,
      closedByClient: this.closedByClient,
    });
    this.endedSignal?.resolve();
  }

  /** HeartbeatOwner: time for a PING. */
  onPingDue(): void {
    this.transport?.send(PING);
  }

  /** HeartbeatOwner: WELCOME did not come in time, or the authenticated link went silent. */
  onDeadline(): void {
    this.abort(this.phase === 'ready' ? 'heartbeat_timeout' : 'connect_timeout');
  }

  private async onRegistered(frame: RegisteredFrame): Promise<void> {
    // Saved BEFORE going on: credentials that exist only in memory would be lost with the
    // process, leaving a registered device nobody can ever authenticate as.
    this.phase = 'registered';
    try {
      await this.ctx.ledger.adoptCredentials(frame.dev, frame.secret);
    } catch (err) {
      this.reportError(err);
      this.abort('store_failed');
      return;
    }
    this.ctx.emit('registered', { deviceId: frame.dev });
    if (this.phase === 'registered' && !this.closedByClient) this.sendHello();
  }

  private sendHello(): void {
    const creds = this.ctx.ledger.credentials;
    if (creds === null) return;
    this.phase = 'authenticating';
    const { appId, heartbeatSec, sdkVersion } = this.ctx.config;
    const ts = Date.now();
    const nonce = helloNonce();
    const cur = this.ctx.ledger.cursorMap();
    const hello: HelloFrame = {
      t: FrameType.HELLO,
      v: 1,
      app: appId,
      dev: creds.dev,
      ts,
      nonce,
      sig: signHello(creds.secret, appId, creds.dev, ts, nonce),
    };
    // Optional fields set in place (not spread): same wire bytes, no object copies.
    if (heartbeatSec !== undefined) hello.hb = heartbeatSec;
    if (cur !== undefined) hello.cur = cur;
    hello.sdk = sdkVersion;
    this.write(hello);
  }

  /**
   * Handshake writes. Encoding throws only for a frame over maxFrame (say, HELLO with a
   * huge cursor map); that must end this connection, not escape into a socket callback.
   */
  private write(frame: ClientFrame): void {
    try {
      this.transport?.send(frame);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.ctx.emit('error', new PetrelError('invalid_argument', `cannot encode frame ${frame.t}: ${err.message}`, { cause: err }));
      this.abort('frame_too_large');
    }
  }

  private onWelcome(welcome: WelcomeFrame): void {
    this.phase = 'ready';
    this.authenticatedAt = Date.now();
    const hbMs = Math.max(1, welcome.hb) * 1000;
    // Dead after 1.5 x hb + grace of silence: the same rule the gateway applies to us.
    // The connect deadline's timer carries on as the heartbeat's.
    this.heartbeat.start(hbMs, 1.5 * hbMs + this.ctx.config.deadLinkGraceMs);
    this.ctx.onReady(this, welcome);
  }

  private onPush(push: PushFrame): void {
    // No ACK path before WELCOME; the gateway only pushes to authenticated sessions.
    if (this.phase !== 'ready') return;
    const acks = this.acks ?? this.createAckBatcher();
    // Recorded before the app sees it, so a close() from inside a listener still persists it.
    const fresh = this.ctx.ledger.recordPush(push.id, push.log, push.seq);
    if (fresh) this.ctx.emit(push.n !== undefined ? 'notification' : 'message', toPushMessage(push));
    // Duplicates are ACKed too: the gateway keeps redelivering until it hears an ACK.
    acks.add(push.id);
  }

  /** Saves device state changed outside the PUSH/ACK path (which saves before each ACK). */
  private persist(): void {
    this.ctx.ledger.flush().catch((err: unknown) => this.reportError(err));
  }

  private createAckBatcher(): AckBatcher {
    const { config, ledger } = this.ctx;
    this.acks = new AckBatcher(
      config.ackDelayMs,
      config.ackMaxBatch,
      () => ledger.flush(),
      (ids) => this.transport?.send({ t: FrameType.ACK, ids }),
      (err) => this.reportError(err),
    );
    return this.acks;
  }

  private abort(reason: string): void {
    this.reason ??= reason;
    this.transport?.destroy();
  }

  private stopTimers(): void {
    this.heartbeat.stop();
  }

  private reportError(err: unknown): void {
    this.ctx.emit('error', isPetrelError(err) ? err : new PetrelError('store_failed', 'persisting device state failed', { cause: err }));
  }
}

function describe(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
}
