/**
 * A client for one remote Thrift server (one gateway, one dispatcher): a few persistent
 * framed/binary connections, opened lazily and used round-robin, so that one slow reply
 * does not hold up every other call and a dropped connection leaves others serving.
 *
 * The `thrift` package's Connection is used for the socket and the decoding, but not for
 * its failure handling, which does not suit a caller that must answer in bounded time:
 * - a call made while it is disconnected is queued (offline_queue) until a reconnect
 *   that may never come: we fail it at once with `rpc_unavailable` instead;
 * - calls in flight when the socket closes are never called back (their callbacks stay
 *   in the client's `_reqs`): we reject them with `rpc_unavailable`;
 * - there is no per-call timeout: ours rejects with `rpc_timeout`, and drops a connection
 *   that stayed silent for a whole call timeout (a half-open link TCP would keep for ever);
 * - its `connect_timeout` only arms the socket's idle timer, which emits 'timeout' and
 *   closes nothing: we destroy a socket that times out before connecting;
 * - for every reply it stores a forwarding callback under `_reqs[-seqid]` that nothing
 *   removes, holding the reply's buffer: we delete it once the call settles;
 * - its own reconnect (max_attempts) reuses a socket and backs off without jitter: we
 *   leave it off and open a new connection after a capped, jittered exponential delay.
 */

import * as thrift from 'thrift';
import { PetrelError } from '../domain/errors.js';
import { fromRpcFailure } from './rpc-errors.js';

/** What every generated apache-target Client carries: a seqid counter and callbacks by seqid. */
export interface GeneratedClient {
  _seqid: number;
  _reqs: Record<number, (err: Error | object | undefined, val?: unknown) => void>;
}

/** A generated Client class, e.g. GatewayService.Client. */
export type ClientClass<C extends GeneratedClient> = new (
  output: thrift.TTransport,
  protocol: new (trans: thrift.TTransport) => thrift.TProtocol,
) => C;

/** The service methods of a generated client (its promise-returning methods). */
export type RpcMethod<C> = {
  [K in keyof C]: C[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof C] &
  string;
export type RpcArgs<C, M extends keyof C> = C[M] extends (...args: infer A) => Promise<unknown> ? A : never;
export type RpcResult<C, M extends keyof C> = C[M] extends (...args: never[]) => Promise<infer R> ? R : never;

export interface RpcPoolOptions<C extends GeneratedClient> {
  /** The generated client class, e.g. `GatewayService.Client`. */
  client: ClientClass<C>;
  host: string;
  port: number;
  /** In messages: "gateway g-1". Default: host:port. */
  name?: string;
  /** Connections kept to the remote (default 2). */
  size?: number;
  /** A call with no reply by then fails with rpc_timeout (default 5000). */
  callTimeoutMs?: number;
  /** A connection not established by then counts as failed (default 2000). */
  connectTimeoutMs?: number;
  /** First reconnect delay after a drop (default 100); doubles per failed attempt… */
  reconnectBaseMs?: number;
  /** …up to this (default 5000). */
  reconnectMaxMs?: number;
}

type Settings = Readonly<Required<Omit<RpcPoolOptions<GeneratedClient>, 'client'>>>;

function settingsOf(options: RpcPoolOptions<GeneratedClient>): Settings {
  const s: Settings = {
    host: options.host,
    port: options.port,
    name: options.name ?? `${options.host}:${options.port}`,
    size: options.size ?? 2,
    callTimeoutMs: options.callTimeoutMs ?? 5000,
    connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    reconnectBaseMs: options.reconnectBaseMs ?? 100,
    reconnectMaxMs: options.reconnectMaxMs ?? 5000,
  };
  if (!Number.isInteger(s.size) || s.size < 1) throw new RangeError(`rpc pool ${s.name}: size must be a positive integer`);
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new RangeError(`rpc pool ${s.name}: bad port ${s.port}`);
  for (const key of ['callTimeoutMs', 'connectTimeoutMs', 'reconnectBaseMs', 'reconnectMaxMs'] as const) {
    if (!(s[key] > 0)) throw new RangeError(`rpc pool ${s.name}: ${key} must be positive`);
  }
  return Object.freeze(s);
}

/**
 * Delay before reconnect attempt `failures` (1, 2, …): exponential from `baseMs`, capped
 * at `maxMs`, then "equal jitter" (half fixed, half random) so that the clients of a
 * restarted server do not all come back in the same millisecond.
 */
export function reconnectDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

interface PendingCall {
  timer: NodeJS.Timeout;
  reject(err: PetrelError): void;
}

/**
 * One connection of the pool and its life: idle (never opened) → opening → connected ⇄
 * down (dropped or failed; a reconnect is scheduled) → closed.
 */
class PooledConnection<C extends GeneratedClient> {
  state: 'idle' | 'opening' | 'connected' | 'down' | 'closed' = 'idle';
  private connection: thrift.Connection | null = null;
  private client: C | null = null;
  /** While opening for the first time: settles when that attempt does. */
  private firstOpen: Promise<void> | null = null;
  private readonly pending = new Map<number, PendingCall>();
  private failures = 0;
  /** Why the last attempt or connection failed, for messages. */
  lastError: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly clientClass: ClientClass<C>,
    private readonly settings: Settings,
  ) {}

  /** Opens the connection lazily; resolves once connected or failed (see `state`). */
  open(): Promise<void> {
    if (this.state === 'idle') {
      this.firstOpen = new Promise<void>((resolve) => this.connect(resolve));
    }
    return this.firstOpen ?? Promise.resolve();
  }

  private connect(settled: () => void = () => {}): void {
    if (this.state === 'idle') this.state = 'opening';
    const connection = thrift.createConnection(this.settings.host, this.settings.port, {
      transport: thrift.TFramedTransport,
      protocol: thrift.TBinaryProtocol,
      connect_timeout: this.settings.connectTimeoutMs,
    });
    this.connection = connection;
    this.client = thrift.createClient(this.clientClass, connection);
    connection.on('connect', () => {
      if (this.connection !== connection) return;
      this.state = 'connected';
      this.failures = 0;
      this.lastError = null;
      settled();
    });
    // A socket error, or a reply thrift could not decode (the stream is out of step):
    // either way the connection is unusable. 'close' follows the destroy.
    connection.on('error', (err: Error) => {
      this.lastError = err.message;
      connection.destroy();
    });
    connection.on('timeout', () => {
      if (connection.connected) return;
      this.lastError = `no connection within ${this.settings.connectTimeoutMs} ms`;
      connection.destroy();
    });
    connection.on('close', () => {
      this.drop(connection, 'the connection closed before the reply came');
      settled();
    });
  }

  /**
   * Takes `connection` out of use at once (no new call picks it), fails the calls waiting
   * on it and schedules a reconnect; a no-op if it was already replaced or dropped.
   */
  private drop(connection: thrift.Connection, why: string): void {
    if (this.connection !== connection) return;
    this.connection = null;
    this.client = null;
    this.failAll(() => this.unavailable(why));
    if (this.state !== 'closed') {
      this.state = 'down';
      this.scheduleReconnect();
    }
    connection.destroy();
  }

  private scheduleReconnect(): void {
    this.failures += 1;
    const delay = reconnectDelayMs(this.failures, this.settings.reconnectBaseMs, this.settings.reconnectMaxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === 'down') this.connect();
    }, delay);
    // A pool nobody closed must not keep the process alive just to reconnect.
    this.retryTimer.unref();
  }

  call(method: string, args: readonly unknown[]): Promise<unknown> {
    const client = this.client;
    if (this.state !== 'connected' || client === null) return Promise.reject(this.unavailable('not connected'));
    const where = `${this.settings.name} ${method}`;
    const send = (client as unknown as Record<string, (...a: readonly unknown[]) => Promise<unknown>>)[method];
    if (typeof send !== 'function') return Promise.reject(new PetrelError('internal', `${where}: no such method`));

    const link = this.connection!;
    const readBefore = link.connection.bytesRead;
    return new Promise<unknown>((resolve, reject) => {
      // The generated method takes the next seqid synchronously, before it writes.
      const seqid = client._seqid + 1;
      const settle = (): boolean => {
        const call = this.pending.get(seqid);
        if (call === undefined) return false;
        clearTimeout(call.timer);
        this.pending.delete(seqid);
        delete client._reqs[-seqid];
        return true;
      };
      const timer = setTimeout(() => {
        if (!settle()) return;
        // A late reply finds this instead of the call's callback: it is dropped, and the
        // entry thrift adds for it is removed too.
        client._reqs[seqid] = () => {
          delete client._reqs[-seqid];
        };
        reject(new PetrelError('rpc_timeout', `${where}: no reply within ${this.settings.callTimeoutMs} ms`));
        // Not one byte came back while this call waited: the link is half-open (the peer's
        // host vanished, a NAT or firewall forgot the flow) and TCP may not notice for many
        // minutes. Drop it, failing the other calls on it, and reconnect; a peer that is
        // merely slow still sends other replies and keeps its connection.
        if (link.connection.bytesRead === readBefore && this.connection === link) {
          this.lastError = `no byte received for ${this.settings.callTimeoutMs} ms with a call waiting`;
          this.drop(link, this.lastError);
        }
      }, this.settings.callTimeoutMs);
      this.pending.set(seqid, { timer, reject });
      send.call(client, ...args).then(
        (value) => {
          if (settle()) resolve(value);
        },
        (err: unknown) => {
          if (settle()) reject(fromRpcFailure(err, where));
        },
      );
    });
  }

  /** Drops the connection for good; calls in flight fail with rpc_unavailable. */
  close(): Promise<void> {
    this.state = 'closed';
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failAll(() => this.unavailable('the client was closed'));
    const connection = this.connection;
    if (connection === null || connection.connection.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      connection.connection.once('close', () => resolve());
      connection.destroy();
    });
  }

  private failAll(error: () => PetrelError): void {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(error());
    }
    this.pending.clear();
  }

  unavailable(why: string): PetrelError {
    return new PetrelError('rpc_unavailable', `${this.settings.name}: ${why}`);
  }
}

export class RpcPool<C extends GeneratedClient> {
  private readonly settings: Settings;
  private readonly connections: Array<PooledConnection<C>>;
  private next = 0;
  private closed = false;

  constructor(options: RpcPoolOptions<C>) {
    this.settings = settingsOf(options);
    this.connections = Array.from({ length: this.settings.size }, () => new PooledConnection(options.client, this.settings));
  }

  get name(): string {
    return this.settings.name;
  }

  /** Connections currently up (for readiness checks and tests). */
  get connectedCount(): number {
    return this.connections.filter((c) => c.state === 'connected').length;
  }

  /**
   * Calls `method` on the remote: `pool.call('deliver', batch)`. Failures are PetrelErrors:
   * the remote's own code (its RpcError), rpc_unavailable (no connection up: fails at once
   * rather than waiting for a reconnect), rpc_timeout, or internal.
   */
  async call<M extends RpcMethod<C>>(method: M, ...args: RpcArgs<C, M>): Promise<RpcResult<C, M>> {
    const connection = await this.pick();
    return (await connection.call(method, args)) as RpcResult<C, M>;
  }

  /**
   * Round-robin over the connections that are up. A connection never opened yet is opened
   * when its turn comes and the call waits for that first connect (bounded by
   * connectTimeoutMs); one that dropped is skipped until its reconnect succeeds.
   */
  private async pick(): Promise<PooledConnection<C>> {
    const size = this.connections.length;
    for (let i = 0; i < size && !this.closed; i += 1) {
      const index = (this.next + i) % size;
      const connection = this.connections[index]!;
      if (connection.state === 'idle' || connection.state === 'opening') {
        this.next = (index + 1) % size;
        await connection.open();
      }
      if (connection.state === 'connected') {
        this.next = (index + 1) % size;
        return connection;
      }
    }
    if (this.closed) throw new PetrelError('rpc_unavailable', `${this.settings.name}: the client was closed`);
    const why = this.connections.find((c) => c.lastError !== null)?.lastError;
    throw new PetrelError('rpc_unavailable', `${this.settings.name}: no connection is up${why ? ` (${why})` : ''}`);
  }

  /** Closes every connection; calls in flight fail with rpc_unavailable. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.connections.map((c) => c.close()));
  }
}
