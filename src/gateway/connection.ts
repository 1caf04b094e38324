import { randomInt } from 'node:crypto';
import { bucketOf } from '../domain/audience.js';
import { PetrelError } from '../domain/errors.js';
import {
  CloseCode, FrameType, ProtocolError, frameTypeName, parseClientFrame,
  type ClientFrame, type FrameDecoder, type FrameSink, type HelloFrame, type RawFrame, type RegisterFrame, type ServerFrame,
} from '../protocol/index.js';
import type { GatewayContext } from './gateway-context.js';
import type { Session } from './session-hooks.js';

/**
 * The part of a socket a connection uses. net.Socket and tls.TLSSocket satisfy it; unit
 * tests pass a fake, so the state machine is tested without the network (STYLE.md,
 * autopush's Session trait).
 */
export interface Transport {
  /** The peer's address (REGISTER is limited per address); undefined once the socket is gone. */
  readonly remoteAddress?: string | undefined;
  write(data: Uint8Array): boolean;
  /** Between cork() and uncork() writes are gathered into one writev (a broadcast wave). */
  cork(): void;
  uncork(): void;
  end(): unknown;
  end(data: Uint8Array): unknown;
  destroy(): unknown;
  /** Closes with a TCP reset (plain TCP only: node throws for a TLS socket). */
  resetAndDestroy(): unknown;
  readonly writableLength: number;
}

/** Connection states (docs/protocol.md, "A connection starts unauthenticated"). */
export const ConnState = { UNAUTHENTICATED: 0, AUTHENTICATING: 1, AUTHENTICATED: 2, CLOSED: 3 } as const;
type ConnState = (typeof ConnState)[keyof typeof ConnState];

/**
 * One device connection: the protocol state machine plus the few fields a session needs.
 * Kept deliberately small (a gateway holds tens of thousands of idle ones): no timers or
 * closures per connection; deadlines are numbers checked by the gateway's sweep.
 */
export class DeviceConnection implements FrameSink, Session {
  state: ConnState = ConnState.UNAUTHENTICATED;
  deviceId = '';
  appId = '';
  /** 0 until authenticated; the session id string is derived on demand. */
  sessionNo = 0;
  /** Granted heartbeat, seconds. */
  heartbeatSec = 0;
  cursors: Record<string, number> | undefined = undefined;
  /** The device's number within its app (-1 before HELLO): reported with ACKs. */
  deviceNo = -1;
  /** Subscribed topics (the gateway's fan-out index); null when none. */
  topics: Set<string> | null = null;
  /** Version of the topic set read at HELLO (a small integer: no heap object per connection). */
  topicsVersion = 0;
  /** Frames and bytes received since the last sweep (the abuse limits' window; reset there). */
  framesIn = 0;
  bytesIn = 0;
  /** Audience bucket of the device (domain/audience.ts), for paced broadcasts. */
  bucket = 0;
  /**
   * Gateway clock tick (GatewayContext.now()) after which the sweep acts: auth deadline
   * before HELLO, liveness deadline after it, socket teardown deadline once closed.
   */
  deadline: number;
  private readonly decoder: FrameDecoder;

  constructor(
    readonly transport: Transport,
    private readonly ctx: GatewayContext,
  ) {
    this.decoder = ctx.codec.decoder();
    this.deadline = ctx.now() + ctx.authDeadlineTicks;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress ?? '';
  }

  get sessionId(): string {
    return this.sessionNo === 0 ? '' : this.ctx.sessionIdOf(this.sessionNo);
  }

  get authenticated(): boolean {
    return this.state === ConnState.AUTHENTICATED;
  }

  /** Memory held for a partially received frame. */
  get retainedBytes(): number {
    return this.decoder.retainedBytes;
  }

  onData(chunk: Buffer): void {
    if (this.state === ConnState.CLOSED) return;
    // Checked before decoding: a flood costs this comparison, not the decoder's work.
    if ((this.bytesIn += chunk.length) > this.ctx.bytesPerWindow) {
      this.rateLimited('bytes');
      return;
    }
    try {
      this.decoder.feed(chunk, this);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.ctx.metrics.protocolErrors.labels(err.code).inc();
        this.ctx.log.debug({ dev: this.deviceId || undefined, code: err.code, msg: err.message }, 'protocol error');
        this.close(err.closeCode, err.code);
      } else {
        this.failInternal(err);
      }
    }
  }

  /**
   * A bug while handling this device (ours or a hook's) costs this one connection, never
   * the process and every other connection on it.
   */
  private failInternal(err: unknown): void {
    this.ctx.metrics.protocolErrors.labels('internal').inc();
    this.ctx.log.error({ err, dev: this.deviceId || undefined }, 'error handling a device frame');
    this.close(CloseCode.PROTOCOL_ERROR, 'internal');
  }

  onFrame(raw: RawFrame): boolean {
    if (this.state === ConnState.CLOSED) return false;
    if (++this.framesIn > this.ctx.framesPerWindow) {
      this.rateLimited('frames');
      return false;
    }
    const frame = parseClientFrame(raw);
    this.ctx.countIn(frame.t);
    if (this.state === ConnState.AUTHENTICATED) {
      // Any inbound frame proves liveness (docs/protocol.md, "Liveness").
      this.deadline = this.ctx.now() + this.ctx.livenessTicks(this.heartbeatSec);
      this.authenticatedFrame(frame);
    } else {
      this.unauthenticatedFrame(frame);
    }
    return !this.closed;
  }

  get closed(): boolean {
    return this.state === ConnState.CLOSED;
  }

  private unauthenticatedFrame(frame: ClientFrame): void {
    if (frame.t === FrameType.PING) {
      this.sendEncoded(this.ctx.pongFrame, FrameType.PONG);
    } else if (this.state === ConnState.UNAUTHENTICATED && frame.t === FrameType.HELLO) {
      this.hello(frame);
    } else if (this.state === ConnState.UNAUTHENTICATED && frame.t === FrameType.REGISTER) {
      this.register(frame);
    } else if (frame.t === FrameType.BYE) {
      this.peerBye();
    } else {
      this.unexpected(frame.t);
    }
  }

  private authenticatedFrame(frame: ClientFrame): void {
    switch (frame.t) {
      case FrameType.PING:
        this.sendEncoded(this.ctx.pongFrame, FrameType.PONG);
        return;
      case FrameType.ACK:
        if (frame.ids.length > 0) {
          this.ctx.metrics.acksReceived.inc(frame.ids.length);
          this.ctx.acknowledged(this, frame.ids);
        }
        return;
      case FrameType.OPENED:
        this.ctx.hooks.opened(this, frame.id);
        return;
      case FrameType.SUB:
      case FrameType.UNSUB:
        this.subscribe(frame.rid, frame.topics, frame.t === FrameType.SUB);
        return;
      case FrameType.BYE:
        this.peerBye();
        return;
      default:
        this.unexpected(frame.t);
    }
  }

  private unexpected(t: number): void {
    this.ctx.metrics.protocolErrors.labels('frame_unexpected').inc();
    this.close(CloseCode.PROTOCOL_ERROR, `frame ${frameTypeName(t)} not allowed now`);
  }

  private register(frame: RegisterFrame): void {
    this.state = ConnState.AUTHENTICATING;
    this.ctx.auth.register(frame, this.remoteAddress).then(
      (reg) => {
        if (this.state === ConnState.CLOSED) return;
        this.state = ConnState.UNAUTHENTICATED;
        this.ctx.metrics.registrations.inc();
        this.send({ t: FrameType.REGISTERED, dev: reg.deviceId, secret: reg.secret });
      },
      (err: unknown) => this.authFailed(err),
    ).catch((err: unknown) => this.failInternal(err));
  }

  private hello(frame: HelloFrame): void {
    this.state = ConnState.AUTHENTICATING;
    const started = performance.now();
    this.ctx.auth.hello(frame, Date.now()).then(
      (device) => {
        if (this.state === ConnState.CLOSED) return;
        if (!this.ctx.admitsSession(device.appId, device.id, device.appMaxSessions)) {
          this.rateLimited('sessions');
          return;
        }
        const hb = this.ctx.grantHeartbeat(frame.hb);
        this.state = ConnState.AUTHENTICATED;
        this.deviceId = device.id;
        this.appId = device.appId;
        this.sessionNo = this.ctx.nextSessionNo();
        this.heartbeatSec = hb;
        this.cursors = frame.cur;
        this.deviceNo = device.no;
        this.topics = device.topics;
        this.topicsVersion = device.topicsVersion;
        this.bucket = bucketOf(device.id);
        this.deadline = this.ctx.now() + this.ctx.livenessTicks(hb);
        this.ctx.sessionStarted(this);
        this.send({ t: FrameType.WELCOME, hb, sid: this.sessionId, now: Date.now() });
        this.ctx.metrics.helloSeconds.observe((performance.now() - started) / 1000);
        this.ctx.hooks.sessionOpened(this);
      },
      (err: unknown) => this.authFailed(err),
    ).catch((err: unknown) => this.failInternal(err));
  }

  /**
   * Over an abuse limit (frames or bytes per second, or the app's concurrent sessions):
   * BYE 4008 with a spread `retry`.
   */
  private rateLimited(what: 'frames' | 'bytes' | 'sessions'): void {
    this.ctx.metrics.rateLimited.labels(what).inc();
    this.ctx.log.debug({ dev: this.deviceId || undefined, limit: what }, 'connection over its rate limit');
    this.close(CloseCode.RATE_LIMITED, `too many ${what}`, this.ctx.retryAfterLimitMs());
  }

  private authFailed(err: unknown): void {
    if (this.state === ConnState.CLOSED) return;
    const failure = err instanceof PetrelError ? err : new PetrelError('internal', undefined, { cause: err });
    this.ctx.metrics.authFailures.labels(failure.code).inc();
    if (failure.code === 'rate_limited') {
      // Too many REGISTERs from this address: come back once the budget has refilled.
      this.ctx.metrics.rateLimited.labels('registrations').inc();
      const waitMs = Number(failure.details?.['retryAfterMs'] ?? 0);
      this.close(CloseCode.RATE_LIMITED, failure.code, waitMs + this.ctx.retryAfterLimitMs());
    } else if (failure.code === 'storage_unavailable') {
      // Not the device's fault: ask it to come back soon, spread so the herd does not return at once.
      this.ctx.log.warn({ err: String((failure.cause as Error | undefined)?.message ?? failure.message) }, 'auth storage unavailable');
      this.close(CloseCode.RATE_LIMITED, failure.code, 1000 + randomInt(4000));
    } else if (failure.closeCode !== undefined) {
      this.ctx.log.debug({ code: failure.code, msg: failure.message }, 'device auth failed');
      this.close(failure.closeCode, failure.code);
    } else {
      this.ctx.log.error({ err: failure }, 'device auth crashed');
      this.close(CloseCode.PROTOCOL_ERROR, 'internal error');
    }
  }

  private subscribe(rid: number | string, topics: string[], subscribe: boolean): void {
    this.ctx.hooks.subscribe(this, topics, subscribe).then(
      () => {
        if (this.state === ConnState.CLOSED) return;
        this.ctx.topicsChanged(this, topics, subscribe);
        this.send({ t: FrameType.SUBACK, rid, ok: true });
      },
      (err: unknown) => {
        const code = err instanceof PetrelError ? err.code : 'internal';
        if (!(err instanceof PetrelError)) this.ctx.log.error({ err }, 'subscribe failed');
        this.send({ t: FrameType.SUBACK, rid, ok: false, err: code });
      },
    ).catch((err: unknown) => this.failInternal(err));
  }

  /** Encodes and sends a frame; false when the connection is closed or just got closed for being slow. */
  send(frame: ServerFrame): boolean {
    if (this.state === ConnState.CLOSED) return false;
    return this.sendEncoded(this.ctx.codec.encode(frame), frame.t);
  }

  /** Sends already-encoded bytes (one encoding shared by a whole fan-out), under the send buffer cap (roomFor). */
  sendEncoded(bytes: Uint8Array, t: number): boolean {
    if (!this.roomFor(bytes.length)) return false;
    this.transport.write(bytes);
    this.ctx.countOut(t);
    // Each PUSH earns the device one frame of its own this window (its ACK or OPENED): a
    // device ACKing a fast stream frame by frame is answering us, not flooding.
    if (t === FrameType.PUSH) this.framesIn--;
    return true;
  }

  /**
   * Sends several encoded PUSHes in one write (a broadcast wave: gateway/fanout-waves.ts),
   * under the send buffer cap (roomFor).
   */
  sendPushes(frames: readonly Buffer[]): boolean {
    if (frames.length === 1) return this.sendEncoded(frames[0]!, FrameType.PUSH);
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    if (!this.roomFor(bytes)) return false;
    // One writev system call for all of them, and no copy: every socket of the wave
    // still points at the same few frame buffers, however much of it is queued.
    this.transport.cork();
    for (const f of frames) this.transport.write(f);
    this.transport.uncork();
    this.ctx.countOut(FrameType.PUSH, frames.length);
    this.framesIn -= frames.length;
    return true;
  }

  /**
   * Whether `bytes` more may be queued: false when closed, or when they would pass the
   * per-connection send buffer cap, which closes a device that does not read (4005)
   * instead of letting its backlog grow in our memory.
   */
  private roomFor(bytes: number): boolean {
    if (this.state === ConnState.CLOSED) return false;
    if (this.transport.writableLength + bytes <= this.ctx.sendBufferBytes) return true;
    this.close(CloseCode.SLOW_CONSUMER, 'send buffer full');
    return false;
  }

  /** Sweep found the deadline passed. */
  expire(): void {
    if (this.state === ConnState.AUTHENTICATED) this.close(CloseCode.HEARTBEAT_TIMEOUT, 'no heartbeat');
    else this.close(CloseCode.AUTH_TIMEOUT, 'no HELLO in time');
  }

  /**
   * Ends the connection with BYE `code`. The socket is half-closed after the BYE flushes;
   * the sweep destroys it if the peer never finishes the close. A slow consumer is reset
   * at once: its BYE would sit behind the very backlog we are refusing to keep.
   */
  close(code: number, reason?: string, retryMs?: number): void {
    if (this.state === ConnState.CLOSED) return;
    this.state = ConnState.CLOSED;
    this.ctx.metrics.close(code);
    this.ctx.connectionClosed(this, code);
    if (code === CloseCode.SLOW_CONSUMER) {
      reset(this.transport);
      return;
    }
    const bye: ServerFrame = { t: FrameType.BYE, code };
    if (reason !== undefined) bye.reason = reason;
    if (retryMs !== undefined) bye.retry = retryMs;
    this.transport.end(this.ctx.codec.encode(bye));
    this.ctx.countOut(FrameType.BYE);
  }

  /** The device said BYE: it closes; we do not answer with one. */
  private peerBye(): void {
    if (this.state === ConnState.CLOSED) return;
    this.state = ConnState.CLOSED;
    this.ctx.connectionClosed(this, CloseCode.NORMAL);
    this.transport.end();
  }

  /** The socket is gone (peer close, reset, or our own teardown finished). */
  onTransportClosed(): void {
    if (this.state !== ConnState.CLOSED) {
      this.state = ConnState.CLOSED;
      this.ctx.metrics.peerCloses.inc();
      this.ctx.connectionClosed(this, CloseCode.NORMAL);
    }
    this.ctx.transportReleased(this);
  }
}

/**
 * Drops a connection with a TCP reset, which discards what the kernel still holds for it.
 * A plain close (destroy) does not: the kernel keeps the socket's whole send buffer (MBs
 * once autotuned; test/faults/frozen-reader.test.ts measured 6 MB on loopback) and still
 * delivers it, then a FIN, to a device we gave up on — so the backlog was neither dropped
 * nor the close a reset, as docs/protocol.md promises for 4005. Node resets only plain TCP
 * sockets (a TLS socket throws ERR_INVALID_HANDLE_TYPE); those are destroyed as before.
 */
function reset(transport: Transport): void {
  try {
    transport.resetAndDestroy();
  } catch {
    transport.destroy();
  }
}
