import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import {
  FrameType, WireCodec, parseServerFrame, signHello,
  type ByeFrame, type ClientFrame, type RawFrame, type ServerFrame, type WelcomeFrame,
} from '../../src/protocol/index.js';

export interface DeviceCredentials {
  appId: string;
  deviceId: string;
  secret: string;
}

/**
 * A device that speaks the wire protocol frame by frame, for tests that need to send what
 * the SDK never would (bad signatures, frames out of order, garbage). Uses the one codec.
 */
export class RawDevice {
  readonly frames: ServerFrame[] = [];
  /** The BYE received, if any, once the socket has closed. */
  readonly closed: Promise<ByeFrame | null>;
  private waiters: Array<() => void> = [];
  private lastBye: ByeFrame | null = null;
  private ended = false;

  private constructor(
    readonly socket: net.Socket,
    readonly codec: WireCodec,
  ) {
    const decoder = codec.decoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.feed(chunk, {
        onFrame: (raw: RawFrame) => {
          const frame = parseServerFrame(raw);
          if (!frame) return;
          if (frame.t === FrameType.BYE) this.lastBye = frame;
          this.frames.push(frame);
          this.wake();
        },
      });
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve(this.lastBye);
      }),
    );
  }

  static async connect(port: number, options: { tls?: tls.ConnectionOptions; host?: string } = {}): Promise<RawDevice> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls
      ? tls.connect({ host, port, ...options.tls })
      : net.connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawDevice(socket, new WireCodec());
  }

  send(frame: ClientFrame | RawFrame): void {
    this.socket.write(this.codec.encode(frame));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Next frame not yet taken; rejects after `timeoutMs` or if the socket closes first. */
  async next(timeoutMs = 3000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.ended) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames.shift()!;
  }

  async nextOf<T extends ServerFrame['t']>(t: T, timeoutMs = 3000): Promise<Extract<ServerFrame, { t: T }>> {
    const frame = await this.next(timeoutMs);
    if (frame.t !== t) throw new Error(`expected frame ${t}, got ${JSON.stringify(frame)}`);
    return frame as Extract<ServerFrame, { t: T }>;
  }

  async register(appId: string, clientKey: string): Promise<DeviceCredentials> {
    this.send({ t: FrameType.REGISTER, app: appId, key: clientKey, pkg: 'com.example.test' });
    const reg = await this.nextOf(FrameType.REGISTERED);
    return { appId, deviceId: reg.dev, secret: reg.secret };
  }

  helloFrame(creds: DeviceCredentials, overrides: Partial<Extract<ClientFrame, { t: 3 }>> = {}): Extract<ClientFrame, { t: 3 }> {
    const ts = overrides.ts ?? Date.now();
    const nonce = overrides.nonce ?? randomBytes(12).toString('base64url');
    return {
      t: FrameType.HELLO,
      v: 1,
      app: creds.appId,
      dev: creds.deviceId,
      ts,
      nonce,
      sig: signHello(creds.secret, creds.appId, creds.deviceId, ts, nonce),
      ...overrides,
    };
  }

  async hello(creds: DeviceCredentials, overrides: Partial<Extract<ClientFrame, { t: 3 }>> = {}): Promise<WelcomeFrame> {
    this.send(this.helloFrame(creds, overrides));
    return this.nextOf(FrameType.WELCOME);
  }

  /** Waits for the server to close; returns the BYE code (or null when closed without one). */
  async closeCode(timeoutMs = 3000): Promise<number | null> {
    return (await this.closedWith(timeoutMs))?.code ?? null;
  }

  /** Waits for the server to close; returns its BYE (or null when closed without one). */
  async closedWith(timeoutMs = 3000): Promise<ByeFrame | null> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('server did not close the connection')), timeoutMs).unref()),
    ]);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
