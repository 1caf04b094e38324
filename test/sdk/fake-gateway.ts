import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import {
  CloseCode,
  FrameType,
  WireCodec,
  helloSignatureMatches,
  parseClientFrame,
  type ClientFrame,
  type Frame,
  type RawFrame,
} from '../../src/protocol/index.js';

/** One device connection as the fake gateway sees it. */
export class FakeConnection {
  readonly frames: ClientFrame[] = [];
  authenticated = false;
  closed = false;

  constructor(
    readonly index: number,
    readonly socket: Socket,
    private readonly codec: WireCodec,
  ) {}

  send(frame: Frame | RawFrame): void {
    if (!this.socket.destroyed) this.socket.write(this.codec.encode(frame));
  }

  /** Raw bytes, for frames the codec refuses to build (e.g. a zero-length header). */
  sendBytes(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  bye(code: number, extra: { reason?: string; retry?: number } = {}): void {
    this.send({ t: FrameType.BYE, code, ...extra });
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface GatewayEvent {
  readonly conn: FakeConnection;
  /** Undefined for the 'connection' event. */
  readonly frame?: ClientFrame;
}

/** A frame handler that returns true when it fully handled the frame (skipping defaults). */
export type FrameHook = (conn: FakeConnection, frame: ClientFrame) => boolean | void;

/**
 * An in-process gateway for SDK tests: node:net plus the shared WireCodec, with default
 * behaviour per docs/protocol.md (REGISTER -> REGISTERED, HELLO verified with the codec's
 * helloSignatureMatches -> WELCOME or BYE 4001, PING -> PONG, SUB/UNSUB -> SUBACK ok) that a
 * test can override with `hook`.
 */
export class FakeGateway {
  readonly codec = new WireCodec();
  readonly connections: FakeConnection[] = [];
  readonly events: GatewayEvent[] = [];
  /** dev -> secret for devices this gateway registered (or was told about). */
  readonly devices = new Map<string, string>();
  hb = 240;
  autoPong = true;
  autoSuback = true;
  autoWelcome = true;
  hook: FrameHook | null = null;
  private waiters: { match: (e: GatewayEvent) => boolean; resolve: (e: GatewayEvent) => void }[] = [];

  private constructor(private readonly server: Server) {}

  /** Plain TCP, or TLS when `tls` (cert, key...) is given. */
  static async start(options: { tls?: TlsOptions } = {}): Promise<FakeGateway> {
    const server = options.tls === undefined ? createServer() : createTlsServer(options.tls);
    const gateway = new FakeGateway(server);
    server.on(options.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => gateway.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return gateway;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return address.port;
  }

  /** Frames of type `t` received so far, across connections. */
  framesOf<T extends ClientFrame['t']>(t: T): Extract<ClientFrame, { t: T }>[] {
    return this.events.flatMap((e) => (e.frame?.t === t ? [e.frame as Extract<ClientFrame, { t: T }>] : []));
  }

  /** Resolves with the first event (past or future) matching. */
  waitFor(match: (e: GatewayEvent) => boolean, timeoutMs = 3_000): Promise<GatewayEvent> {
    const past = this.events.find(match);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('FakeGateway.waitFor timed out')), timeoutMs);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** Waits for the n-th (1-based) frame of type t. */
  waitForFrame<T extends ClientFrame['t']>(t: T, nth = 1, conn?: FakeConnection): Promise<{ conn: FakeConnection; frame: Extract<ClientFrame, { t: T }> }> {
    let seen = 0;
    return this.waitFor((e) => e.frame?.t === t && (conn === undefined || e.conn === conn) && ++seen === nth).then((e) => ({
      conn: e.conn,
      frame: e.frame as Extract<ClientFrame, { t: T }>,
    }));
  }

  /** Waits until the n-th (1-based) connection was accepted. */
  async waitForConnection(nth: number): Promise<FakeConnection> {
    let seen = 0;
    const e = await this.waitFor((ev) => ev.frame === undefined && ++seen === nth);
    return e.conn;
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private record(event: GatewayEvent): void {
    this.events.push(event);
    for (const waiter of this.waiters.slice()) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }

  private accept(socket: Socket): void {
    const conn = new FakeConnection(this.connections.length, socket, this.codec);
    this.connections.push(conn);
    socket.on('close', () => (conn.closed = true));
    socket.on('error', () => undefined);
    const decoder = this.codec.decoder();
    socket.on('data', (chunk) => {
      try {
        decoder.feed(chunk, { onFrame: (raw) => this.onFrame(conn, parseClientFrame(raw)) });
      } catch {
        conn.bye(CloseCode.PROTOCOL_ERROR);
      }
    });
    this.record({ conn });
  }

  private onFrame(conn: FakeConnection, frame: ClientFrame): void {
    conn.frames.push(frame);
    this.record({ conn, frame });
    if (this.hook?.(conn, frame) === true) return;
    switch (frame.t) {
      case FrameType.REGISTER: {
        const dev = randomBytes(16).toString('base64url');
        const secret = randomBytes(32).toString('base64url');
        this.devices.set(dev, secret);
        conn.send({ t: FrameType.REGISTERED, dev, secret });
        return;
      }
      case FrameType.HELLO: {
        const secret = this.devices.get(frame.dev);
        if (secret === undefined || !helloSignatureMatches(secret, frame.app, frame.dev, frame.ts, frame.nonce, frame.sig)) {
          conn.bye(CloseCode.AUTH_FAILED);
          return;
        }
        conn.authenticated = true;
        if (this.autoWelcome) conn.send({ t: FrameType.WELCOME, hb: this.hb, sid: `s${conn.index}`, now: Date.now() });
        return;
      }
      case FrameType.PING:
        if (this.autoPong) conn.send({ t: FrameType.PONG });
        return;
      case FrameType.SUB:
      case FrameType.UNSUB:
        if (this.autoSuback) conn.send({ t: FrameType.SUBACK, rid: frame.rid, ok: true });
        return;
      default:
        return;
    }
  }
}
