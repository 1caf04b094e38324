import net from 'node:net';

/** What the proxy does to the bytes between a client and the server behind it. */
export type Fault =
  | { kind: 'pass' }
  /** Every chunk, each way, is held this long before it is forwarded. */
  | { kind: 'latency'; ms: number }
  /** Nothing is forwarded either way; the sockets stay open (a dead NAT mapping, a frozen peer). */
  | { kind: 'freeze' }
  /** At most this many bytes per second each way per connection (a congested mobile link). */
  | { kind: 'trickle'; bytesPerSec: number }
  /**
   * The proxy stops reading what the server sends (the client's bytes still flow): a device
   * whose app stopped reading its socket. Unlike a freeze, which reads and holds the bytes so
   * the server never sees its writes back up, this lets the kernel buffers between server and
   * proxy fill, so the server's own send buffer grows: what a slow-consumer cap acts on.
   */
  | { kind: 'stop-reading' };

/** How often a trickle lets its next slice through. */
const TRICKLE_TICK_MS = 20;

/** Bytes waiting to reach one socket, in order: what a freeze held or a trickle has not let through yet. */
interface Backlog {
  to: net.Socket;
  chunks: Buffer[];
  /** Half-open: everything sent this way is silently lost, and the socket stays up. */
  blackholed: boolean;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** One backlog per direction: TCP does not lose or reorder bytes, it stalls. */
  toServer: Backlog;
  toClient: Backlog;
}

/**
 * A small fault-injecting TCP proxy for tests (issue #7): clients connect to `port`, each
 * gets its own connection to the target, and the bytes between them suffer the current
 * fault — added latency, a freeze, a trickle, or a cut of every connection at once.
 */
export class FaultProxy {
  private fault: Fault = { kind: 'pass' };
  private readonly pairs = new Set<Pair>();
  private trickleTimer: NodeJS.Timeout | null = null;
  /** Connections accepted so far (reconnects show up here). */
  accepted = 0;

  private constructor(private readonly server: net.Server, private readonly targetPort: number) {
    server.on('connection', (client) => this.accept(client));
  }

  /** A proxy to 127.0.0.1:`targetPort`, which need not be listening yet (it is dialled per connection). */
  static async start(targetPort: number): Promise<FaultProxy> {
    const server = net.createServer();
    const proxy = new FaultProxy(server, targetPort);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Sets the fault for every connection from now on; leaving a freeze or a trickle forwards what was held. */
  set(fault: Fault): void {
    this.fault = fault;
    for (const pair of this.pairs) this.readServer(pair);
    if (this.trickleTimer) clearInterval(this.trickleTimer);
    this.trickleTimer = null;
    if (fault.kind === 'trickle') {
      const slice = Math.max(1, Math.floor((fault.bytesPerSec * TRICKLE_TICK_MS) / 1000));
      this.trickleTimer = setInterval(() => {
        for (const pair of this.pairs) for (const backlog of [pair.toServer, pair.toClient]) this.release(backlog, slice);
      }, TRICKLE_TICK_MS);
    } else if (fault.kind !== 'freeze') {
      for (const pair of this.pairs) for (const backlog of [pair.toServer, pair.toClient]) this.release(backlog, Infinity);
    }
  }

  /** Resets every connection both ways (a network cut, a NAT reboot). */
  cut(): void {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    this.pairs.clear();
  }

  /**
   * Turns every open connection half-open for good: bytes either way vanish and neither
   * end hears of it (a peer host gone dark, a NAT or firewall that forgot the flow). New
   * connections are unaffected, as a fresh flow through a rebooted NAT would be.
   */
  blackholeOpen(): void {
    for (const pair of this.pairs) {
      for (const backlog of [pair.toServer, pair.toClient]) {
        backlog.blackholed = true;
        backlog.chunks.length = 0;
      }
    }
  }

  async close(): Promise<void> {
    this.set({ kind: 'pass' });
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const server = net.connect({ host: '127.0.0.1', port: this.targetPort });
    const pair: Pair = { client, server, toServer: { to: server, chunks: [], blackholed: false }, toClient: { to: client, chunks: [], blackholed: false } };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const [from, backlog] of [[client, pair.toServer], [server, pair.toClient]] as const) {
      from.on('data', (chunk: Buffer) => this.forward(backlog, chunk));
      from.on('error', end);
      from.on('close', end);
    }
    this.readServer(pair);
  }

  /** Pauses or resumes reading the server's side of a pair as the current fault says. */
  private readServer(pair: Pair): void {
    if (this.fault.kind === 'stop-reading') pair.server.pause();
    else if (pair.server.isPaused()) pair.server.resume();
  }

  private forward(backlog: Backlog, chunk: Buffer): void {
    if (backlog.blackholed) return;
    const fault = this.fault;
    // Bytes still held from a freeze or a trickle go first, whatever the fault now is.
    if (fault.kind === 'freeze' || fault.kind === 'trickle' || backlog.chunks.length > 0) backlog.chunks.push(chunk);
    else if (fault.kind === 'latency') setTimeout(() => backlog.to.destroyed || backlog.to.write(chunk), fault.ms);
    else if (!backlog.to.destroyed) backlog.to.write(chunk);
  }

  /** Writes up to `budget` bytes of a backlog, splitting a chunk where the budget ends. */
  private release(backlog: Backlog, budget: number): void {
    while (budget > 0 && backlog.chunks.length > 0) {
      const chunk = backlog.chunks[0]!;
      const part = chunk.length <= budget ? chunk : chunk.subarray(0, budget);
      if (part === chunk) backlog.chunks.shift();
      else backlog.chunks[0] = chunk.subarray(budget);
      budget -= part.length;
      if (!backlog.to.destroyed) backlog.to.write(part);
    }
  }
}
