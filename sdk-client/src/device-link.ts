import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import {
  CloseCode,
  FrameType,
  ProtocolError,
  parseServerFrame,
  type ClientFrame,
  type FrameDecoder,
  type FrameSink,
  type RawFrame,
  type ServerFrame,
  type WireCodec,
} from '../../src/protocol/index.js';
import type { ClientConfig } from './options.js';

/** How long a link that saw a protocol violation waits for the gateway to close. */
const PROTOCOL_CLOSE_GRACE_MS = 1_000;

/** Where a socket keeps its link, so that all sockets share one set of listener functions. */
const LINK = Symbol('petrel.deviceLink');
type LinkedSocket = Socket & { [LINK]: DeviceLink };

/** How a link ended, as far as the socket knows. */
export interface LinkEnd {
  /** Socket or protocol error that ended the link, if any. */
  readonly error?: Error;
}

/** What a link reports to; DeviceSession implements it. */
export interface LinkHandler {
  /** TCP (and TLS) is up: the conversation can start. */
  onOpen(): void;
  onFrame(frame: ServerFrame): void;
  /** Called exactly once, whatever ended the link. */
  onEnd(end: LinkEnd): void;
}

/** The writing side of a link, as DeviceSession sees it (tests can substitute their own). */
export interface FrameTransport {
  /** Writes a frame; false if the link is already closing. Throws ProtocolError if too large. */
  send(frame: ClientFrame): boolean;
  /** Half-closes after pending writes; destroys after `graceMs` if the peer stays silent. */
  end(graceMs: number): void;
  /** Closes at once, reporting `error` as the cause. */
  destroy(error?: Error): void;
}

/**
 * The only socket-aware part of the SDK: one TCP/TLS connection, framed with the shared
 * WireCodec. Unknown frame types are dropped here (docs/protocol.md: the SDK ignores unknown
 * `t`); a malformed frame ends the link with BYE 4003, as the server would.
 *
 * Connecting is the hot path of a process that opens thousands of links, and on a VM
 * every syscall counts: the link makes exactly one of its own (TCP_NODELAY, once
 * connected) and allocates no per-link closures (listeners are shared, see LINK).
 */
export class DeviceLink implements FrameTransport, FrameSink {
  private readonly socket: LinkedSocket;
  private readonly decoder: FrameDecoder;
  private error: Error | undefined;
  private closing = false;
  private ended = false;
  /** end()'s deadline for the peer to close. */
  private graceTimer: NodeJS.Timeout | null = null;

  constructor(
    config: ClientConfig,
    private readonly codec: WireCodec,
    private readonly handler: LinkHandler,
  ) {
    this.decoder = codec.decoder();
    const target: { host: string; port: number; localAddress?: string } = { host: config.host, port: config.port };
    if (config.localAddress !== undefined) target.localAddress = config.localAddress;
    let socket: Socket;
    if (config.tls === null) {
      socket = connectTcp(target);
      socket.on('connect', DeviceLink.onSocketConnect);
    } else {
      // SNI is the host we dial unless the caller set servername; RFC 6066 forbids IP
      // addresses as SNI names, so none is sent for those.
      const sni = isIP(config.host) === 0 ? { servername: config.host } : {};
      socket = connectTls({ ...sni, ...config.tls, ...target });
      socket.on('secureConnect', DeviceLink.onSocketConnect);
    }
    // Typed as LinkedSocket only once LINK is set, before any listener can run.
    (socket as LinkedSocket)[LINK] = this;
    this.socket = socket as LinkedSocket;
    socket.on('data', DeviceLink.onSocketData);
    socket.on('error', DeviceLink.onSocketError);
    socket.on('close', DeviceLink.onSocketClose);
  }

  send(frame: ClientFrame): boolean {
    if (this.closing || this.socket.destroyed) return false;
    this.socket.write(this.codec.encode(frame));
    return true;
  }

  end(graceMs: number): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.end();
    if (this.ended) return;
    this.graceTimer = setTimeout(destroySocket, graceMs, this.socket);
    this.graceTimer.unref();
  }

  destroy(error?: Error): void {
    this.closing = true;
    if (error !== undefined && this.error === undefined) this.error = error;
    this.socket.destroy();
  }

  /**
   * FrameSink: called by the decoder for each complete frame. Once closing, inbound frames
   * are dropped: whatever the gateway still sends (say, a PUSH) stays unACKed and is
   * redelivered on the next connection.
   */
  onFrame(raw: RawFrame): boolean {
    if (this.closing) return false;
    const frame = parseServerFrame(raw);
    if (frame !== null) this.handler.onFrame(frame);
    return !this.closing;
  }

  // Socket listeners: `this` is the socket (EventEmitter calls listeners on the emitter).

  private static onSocketConnect(this: LinkedSocket): void {
    // Frames are already batched by the SDK (ACKs) or tiny and latency-bound (PING).
    // Set now rather than before connecting: Node applies a pre-connect setting twice
    // (when the socket is created and again once connected), two setsockopt calls.
    this.setNoDelay(true);
    this[LINK].handler.onOpen();
  }

  private static onSocketData(this: LinkedSocket, chunk: Buffer): void {
    this[LINK].onData(chunk);
  }

  private static onSocketError(this: LinkedSocket, err: Error): void {
    this[LINK].error ??= err;
  }

  private static onSocketClose(this: LinkedSocket): void {
    this[LINK].onClose();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    try {
      this.decoder.feed(chunk, this);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.protocolViolation(err);
    }
  }

  private protocolViolation(err: ProtocolError): void {
    this.error ??= err;
    // Tell the gateway why, as it would tell us, then stop reading: end() flushes the BYE
    // and destroys the socket if the gateway does not close within the grace period.
    this.send({ t: FrameType.BYE, code: CloseCode.PROTOCOL_ERROR, reason: err.code });
    this.end(PROTOCOL_CLOSE_GRACE_MS);
  }

  private onClose(): void {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    if (this.ended) return;
    this.ended = true;
    this.handler.onEnd(this.error === undefined ? {} : { error: this.error });
  }
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
