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
 */
export class DeviceLink implements FrameTransport, FrameSink {
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private error: Error | undefined;
  private closing = false;
  private ended = false;

  constructor(
    config: ClientConfig,
    private readonly codec: WireCodec,
    private readonly handler: LinkHandler,
  ) {
    this.decoder = codec.decoder();
    const target = {
      host: config.host,
      port: config.port,
      ...(config.localAddress !== undefined ? { localAddress: config.localAddress } : {}),
    };
    if (config.tls === null) {
      this.socket = connectTcp(target, this.onConnected);
    } else {
      // SNI is the host we dial unless the caller set servername; RFC 6066 forbids IP
      // addresses as SNI names, so none is sent for those.
      const sni = isIP(config.host) === 0 ? { servername: config.host } : {};
      this.socket = connectTls({ ...sni, ...config.tls, ...target }, this.onConnected);
    }
    // Frames are already batched by the SDK (ACKs) or tiny and latency-bound (PING).
    this.socket.setNoDelay(true);
    this.socket.on('data', this.onData);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
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
    const timer = setTimeout(() => this.socket.destroy(), graceMs);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
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

  private readonly onConnected = (): void => {
    this.handler.onOpen();
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.closing) return;
    try {
      this.decoder.feed(chunk, this);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.protocolViolation(err);
    }
  };

  private protocolViolation(err: ProtocolError): void {
    this.error ??= err;
    // Tell the gateway why, as it would tell us, then stop reading: end() flushes the BYE
    // and destroys the socket if the gateway does not close within the grace period.
    this.send({ t: FrameType.BYE, code: CloseCode.PROTOCOL_ERROR, reason: err.code });
    this.end(PROTOCOL_CLOSE_GRACE_MS);
  }

  private readonly onError = (err: Error): void => {
    this.error ??= err;
  };

  private readonly onClose = (): void => {
    if (this.ended) return;
    this.ended = true;
    this.handler.onEnd(this.error === undefined ? {} : { error: this.error });
  };
}
