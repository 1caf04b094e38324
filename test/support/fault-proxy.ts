import net from 'node:net';

/** What the proxy does to the bytes between a client and the server behind it. */
export type Fault =
  | { kind: 'pass' }
  /** Every chunk, each way, is held this long before it is forwarded. */
  | { kind: 'latency'; ms: number }
  /** Nothing is forwarded either way; the sockets stay open (a dead NAT mapping, a frozen peer). */
  | { kind: 'freeze' }
  /**
   * The proxy stops reading what the server sends (the client's bytes still flow): a device
   * whose app stopped reading its socket. Unlike a freeze, which reads and holds the bytes so
   * the server never sees its writes back up, this lets the kernel buffers between server and
   * proxy fill, so the server's own send buffer grows: what a slow-consumer cap acts on.
   */
  | { kind: 'stop-reading' };

interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** Chunks held while frozen, forwarded on thaw: TCP does not lose bytes, it stalls. */
  held: Array<{ to: net.Socket; chunk: Buffer }>;
}

/**
 * A small fault-injecting TCP proxy for tests (issue #7): clients connect to `port`, each
 * gets its own connection to the target, and the bytes between them suffer the current
 * fault — added latency, a freeze, or a cut of every connection at once.
 */
export class FaultProxy {
  private fault: Fault = { kind: 'pass' };
  private readonly pairs = new Set<Pair>();
  /** Connections accepted so far (reconnects show up here). */
  accepted = 0;

  private constructor(private readonly server: net.Server, private readonly targetPort: number) {
    server.on('connection', (client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<FaultProxy> {
    const server = net.createServer();
    const proxy = new FaultProxy(server, targetPort);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Sets the fault for every connection from now on; leaving a freeze forwards what was held. */
  set(fault: Fault): void {
    const wasFrozen = this.fault.kind === 'freeze';
    this.fault = fault;
    for (const pair of this.pairs) this.readServer(pair);
    if (wasFrozen && fault.kind !== 'freeze') {
      for (const pair of this.pairs) {
        for (const { to, chunk } of pair.held.splice(0)) this.forward(pair, to, chunk);
      }
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

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const server = net.connect({ host: '127.0.0.1', port: this.targetPort });
    const pair: Pair = { client, server, held: [] };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const [from, to] of [[client, server], [server, client]] as const) {
      from.on('data', (chunk: Buffer) => this.forward(pair, to, chunk));
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

  private forward(pair: Pair, to: net.Socket, chunk: Buffer): void {
    const fault = this.fault;
    if (fault.kind === 'freeze') pair.held.push({ to, chunk });
    else if (fault.kind === 'latency') setTimeout(() => to.destroyed || to.write(chunk), fault.ms);
    else if (!to.destroyed) to.write(chunk);
  }
}
