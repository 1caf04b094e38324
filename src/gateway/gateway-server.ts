import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { GatewayConfig } from '../config/schema.js';
import { compileFilter } from '../domain/audience.js';
import { newSessionId, ownString } from '../domain/ids.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, FrameType, type PushFrame, type WireCodec } from '../protocol/index.js';
import type { BroadcastPublish, OutboundDelivery } from '../rpc/contract.js';
import { AdmissionBucket } from './admission.js';
import type { AppSessionLimit } from './app-session-limit.js';
import { DeviceConnection } from './connection.js';
import type { DeviceAuthenticator } from './device-auth.js';
import { FanOutIndex } from './fanout-index.js';
import { FanOutWaves, type PublishOutcome } from './fanout-waves.js';
import { TICK_MS, type GatewayContext } from './gateway-context.js';
import { RecentPublishes } from './recent-publishes.js';
import { InFlightTracker } from './in-flight.js';
import type { SessionHooks } from './session-hooks.js';

export interface GatewayDeps {
  config: GatewayConfig;
  codec: WireCodec;
  metrics: Metrics;
  log: Logger;
  auth: DeviceAuthenticator;
  hooks: SessionHooks;
  /** The other gateways' share of the per-app session limits; without it only this gateway's sessions count. */
  sessionLimit?: AppSessionLimit | null;
}

export interface GatewayStats {
  id: string;
  connections: number;
  sessions: number;
  closing: number;
  /** PUSHes written and not yet ACKed. */
  inFlight: number;
  draining: boolean;
  /** Memory held for partially received frames, all connections together. */
  partialFrameBytes: number;
}

type Counted = { inc(n?: number): void };

const kConnection = Symbol('petrel.connection');
type TaggedSocket = net.Socket & { [kConnection]?: DeviceConnection };

// Socket listeners are shared functions (`this` is the socket), not closures per socket:
// three fewer function objects for every idle connection.
function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kConnection]?.onData(chunk);
}
function onSocketClose(this: TaggedSocket): void {
  this[kConnection]?.onTransportClosed();
}
function onSocketError(): void {
  // 'close' follows every 'error'; resets from the network are normal for mobile devices.
}

/** How long a socket refused at admission may take to finish closing before it is reset. */
const REFUSED_LINGER_MS = 2000;

/**
 * The long-connection tier (docs/architecture.md): accepts device sockets, runs the
 * protocol state machine per connection, keeps the device → connection index for this
 * process, and checks every deadline with one coarse sweep instead of a timer per socket.
 */
export class GatewayServer implements GatewayContext {
  readonly id: string;
  readonly codec: WireCodec;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly auth: DeviceAuthenticator;
  readonly hooks: SessionHooks;
  readonly sendBufferBytes: number;
  readonly authDeadlineTicks: number;
  readonly pongFrame: Uint8Array;
  readonly framesPerWindow: number;
  readonly bytesPerWindow: number;
  private readonly admission: AdmissionBucket;
  private readonly sessionsPerApp: number;
  private readonly sessionLimit: AppSessionLimit | null;
  /**
   * Apps that have a session limit and sessions here (or a HELLO just checked): their counts
   * are published. Left when their last session here ends.
   */
  private readonly limitedApps = new Set<string>();
  private readonly limitWindowMs: number;
  private countersResetAt = performance.now();

  /** Live connections (not yet closed by either side). */
  private readonly connections = new Set<DeviceConnection>();
  /** Closed by us, socket not yet gone: torn down by the sweep if the peer lingers. */
  private readonly closing = new Set<DeviceConnection>();
  /** deviceId → its one authenticated connection on this gateway. */
  private readonly sessions = new Map<string, DeviceConnection>();
  /** app → topic → sessions, for broadcasts. */
  private readonly fanOut = new FanOutIndex<DeviceConnection>();
  private readonly server: net.Server;
  private readonly config: GatewayConfig;
  private readonly inCounters: Counted[] = [];
  private readonly outCounters: Counted[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Random per process start, so session ids never repeat across restarts or gateways. */
  private readonly sessionPrefix = `${newSessionId()}.`;
  private sessionCounter = 0;
  private draining = false;
  private readonly inFlight: InFlightTracker;
  private readonly recentPublishes = new RecentPublishes();
  private readonly waves: FanOutWaves;

  constructor(deps: GatewayDeps) {
    this.config = deps.config;
    this.id = deps.config.id || `gw-${newSessionId()}`;
    this.codec = deps.codec;
    this.metrics = deps.metrics;
    this.log = deps.log.child({ gateway: this.id });
    this.auth = deps.auth;
    this.hooks = deps.hooks;
    this.sendBufferBytes = deps.config.sendBufferBytes;
    this.authDeadlineTicks = Math.ceil(deps.config.authDeadlineMs / TICK_MS);
    this.pongFrame = this.codec.encode({ t: FrameType.PONG });
    // Per-second limits counted over a window of at least a second, whose counters the
    // sweep resets (no timer or bucket per connection: two small integers each).
    const { limits, sweepIntervalMs } = deps.config;
    this.limitWindowMs = Math.max(1000, sweepIntervalMs);
    const perWindow = (perSec: number) => (perSec === 0 ? Infinity : Math.max(1, Math.floor((perSec * this.limitWindowMs) / 1000)));
    this.framesPerWindow = perWindow(limits.framesPerSec);
    this.bytesPerWindow = perWindow(limits.bytesPerSec);
    this.admission = new AdmissionBucket(limits.connectsPerSec, performance.now());
    this.sessionsPerApp = limits.sessionsPerApp;
    this.sessionLimit = deps.sessionLimit ?? null;
    this.inFlight = new InFlightTracker({
      ackTimeoutTicks: Math.ceil(deps.config.ackTimeoutMs / TICK_MS),
      maxResends: deps.config.maxResends,
      maxPerSession: 1000,
    });
    this.waves = new FanOutWaves(this.fanOut, this.inFlight, this.metrics, () => this.now(), Math.floor(this.sendBufferBytes / 2));
    for (const [name, t] of Object.entries(FrameType)) {
      this.inCounters[t] = this.metrics.framesIn[name as keyof typeof FrameType];
      this.outCounters[t] = this.metrics.framesOut[name as keyof typeof FrameType];
    }
    const onConnection = (socket: net.Socket) => this.accept(socket);
    const tlsConfig = deps.config.tls;
    this.server = tlsConfig
      ? tls.createServer({ cert: readFileSync(tlsConfig.certFile), key: readFileSync(tlsConfig.keyFile), noDelay: true }, onConnection)
      : net.createServer({ noDelay: true }, onConnection);
    this.server.on('error', (err) => this.log.error({ err }, 'gateway server error'));
    if (tlsConfig) this.server.on('tlsClientError', () => this.metrics.protocolErrors.labels('tls_handshake').inc());
    this.metrics.connections.labels('authenticated').set(0);
    this.metrics.connections.labels('unauthenticated').set(0);
  }

  /** Starts listening and the sweep; resolves to the bound port. */
  async listen(): Promise<number> {
    this.server.listen({ host: this.config.host, port: this.config.port, backlog: 4096 });
    await once(this.server, 'listening');
    this.sweepTimer = setInterval(() => this.sweep(), this.config.sweepIntervalMs);
    this.sweepTimer.unref();
    // Without a global limit, publishing starts with the first HELLO of an app that has its own.
    if (this.sessionsPerApp > 0) this.startSessionCounts();
    const port = (this.server.address() as net.AddressInfo).port;
    this.log.info({ host: this.config.host, port, tls: Boolean(this.config.tls) }, 'gateway listening');
    return port;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo | null)?.port ?? 0;
  }

  private accept(socket: TaggedSocket): void {
    this.metrics.accepts.inc();
    if (this.draining) {
      socket.destroy();
      return;
    }
    if (!this.admission.admit(performance.now())) {
      // Admission control: told to come back later, before any per-connection state exists.
      this.metrics.rateLimited.labels('connects').inc();
      this.metrics.close(CloseCode.RATE_LIMITED);
      socket.on('error', onSocketError);
      socket.end(this.codec.encode({ t: FrameType.BYE, code: CloseCode.RATE_LIMITED, reason: 'too many connections', retry: this.retryAfterLimitMs() }));
      // Read and drop what the device sent (its HELLO): a socket nobody reads never sees
      // the device's FIN, so it never closes, and a storm of refusals then holds the file
      // descriptors the devices it refused need to get in (EMFILE: accept stops for good).
      // A device that never closes is reset: the refusal must not cost a descriptor for long.
      socket.resume();
      setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
      return;
    }
    const conn = new DeviceConnection(socket, this);
    // TCP_NODELAY is set by the server (noDelay option): PONGs and PUSHes go out at once.
    socket[kConnection] = conn;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    this.connections.add(conn);
  }

  // ---- GatewayContext -------------------------------------------------------------

  now(): number {
    return Math.floor(performance.now() / TICK_MS);
  }

  nextSessionNo(): number {
    return ++this.sessionCounter;
  }

  sessionIdOf(sessionNo: number): string {
    return this.sessionPrefix + sessionNo.toString(36);
  }

  livenessTicks(heartbeatSec: number): number {
    // docs/protocol.md: drop after 1.5 × hb + grace without an inbound frame.
    return Math.ceil(((1.5 * heartbeatSec + this.config.heartbeat.graceSec) * 1000) / TICK_MS);
  }

  retryAfterLimitMs(): number {
    const spread = this.config.limits.retrySpreadMs;
    return 1000 + (spread > 0 ? randomInt(spread + 1) : 0);
  }

  grantHeartbeat(requestedSec: number | undefined): number {
    const { defaultSec, minSec, maxSec } = this.config.heartbeat;
    if (requestedSec === undefined || requestedSec <= 0) return defaultSec;
    return Math.min(maxSec, Math.max(minSec, requestedSec));
  }

  countIn(t: number): void {
    this.inCounters[t]?.inc();
  }

  countOut(t: number, frames = 1): void {
    this.outCounters[t]?.inc(frames);
  }

  admitsSession(appId: string, deviceId: string, appMaxSessions: number | undefined): boolean {
    const limit = appMaxSessions ?? this.sessionsPerApp;
    if (limit === 0) {
      this.limitedApps.delete(appId);
      return true;
    }
    this.limitedApps.add(appId);
    // A device's new session replaces its old one here: the app's count does not change.
    if (this.sessions.has(deviceId)) return true;
    const local = this.fanOut.sessionCount(appId);
    let admitted = local < limit;
    if (this.sessionLimit) {
      this.startSessionCounts();
      admitted = this.sessionLimit.admits(appId, local, limit);
    }
    if (!admitted) this.log.debug({ app: appId, local, elsewhere: this.sessionLimit?.elsewhere(appId) ?? 0 }, 'app at its session limit');
    return admitted;
  }

  private startSessionCounts(): void {
    if (!this.draining) this.sessionLimit?.start(this.limitedSessionCounts);
  }

  /** What this gateway publishes at each refresh: its sessions of the apps that have a limit. */
  private readonly limitedSessionCounts = (): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const appId of this.limitedApps) {
      // 0: a HELLO was refused, or is between its check and its session start.
      const n = this.fanOut.sessionCount(appId);
      if (n > 0) counts.set(appId, n);
    }
    return counts;
  };

  sessionStarted(conn: DeviceConnection): void {
    const previous = this.sessions.get(conn.deviceId);
    this.sessions.set(conn.deviceId, conn);
    this.fanOut.add(conn);
    if (previous && previous !== conn) {
      // One session per device (docs/protocol.md): the newest wins.
      this.metrics.sessionsReplaced.inc();
      previous.close(CloseCode.REPLACED, 'replaced by a newer session');
    }
    this.metrics.sessions.inc();
  }

  acknowledged(conn: DeviceConnection, ids: readonly string[]): void {
    const fannedOut = this.inFlight.acked(conn, ids);
    if (fannedOut === null || conn.deviceNo < 0 || !this.hooks.broadcastAcked) {
      this.hooks.acked(conn, ids);
      return;
    }
    this.hooks.broadcastAcked(conn, fannedOut);
    if (fannedOut.length < ids.length) this.hooks.acked(conn, ids.filter((id) => !fannedOut.includes(id)));
  }

  connectionClosed(conn: DeviceConnection, code: number): void {
    this.connections.delete(conn);
    this.inFlight.ended(conn);
    this.closing.add(conn);
    conn.deadline = this.now() + Math.ceil(2000 / TICK_MS);
    if (conn.deviceId && this.sessions.get(conn.deviceId) === conn) {
      this.sessions.delete(conn.deviceId);
    }
    if (conn.sessionNo === 0) return;
    this.fanOut.remove(conn);
    if (this.fanOut.sessionCount(conn.appId) === 0) this.limitedApps.delete(conn.appId);
    try {
      this.hooks.sessionClosed(conn, code);
    } catch (err) {
      // Called from the sweep and from socket events: a hook bug must not stop either.
      this.log.error({ err, dev: conn.deviceId }, 'sessionClosed hook failed');
    }
  }

  topicsChanged(conn: DeviceConnection, topics: readonly string[], subscribe: boolean): void {
    // Copies: the names are slices of the decoded SUB frame, which they would keep alive.
    this.fanOut.change(conn, topics.map(ownString), subscribe);
  }

  transportReleased(conn: DeviceConnection): void {
    this.closing.delete(conn);
  }

  // ---- operations -------------------------------------------------------------------

  /**
   * Writes one PUSH to a device connected here, once: no ACK tracking or re-send (tests
   * and tools). False when it is not connected. The send path uses deliverBatch.
   */
  deliver(deviceId: string, push: PushFrame): boolean {
    const conn = this.sessions.get(deviceId);
    if (!conn) return false;
    const sent = conn.sendEncoded(this.codec.encode(push), FrameType.PUSH);
    if (sent) this.metrics.pushesSent.inc();
    return sent;
  }

  /**
   * Writes frames the dispatch tier encoded (one Thrift deliver call). A PUSH is tracked
   * until ACKed and re-sent on timeout; one already in flight on the session is not
   * written again. Returns the devices with no matching session here.
   */
  deliverBatch(deliveries: readonly OutboundDelivery[]): string[] {
    const missed: string[] = [];
    const tick = this.now();
    for (const d of deliveries) {
      const conn = this.sessions.get(d.deviceId);
      if (!conn || (d.sessionId !== '' && conn.sessionId !== d.sessionId)) {
        missed.push(d.deviceId);
        continue;
      }
      if (d.messageId !== undefined && !this.inFlight.track(conn, d.messageId, d.frame, d.expiresAt ?? 0, tick)) continue;
      // Frames other than PUSH are rare (RESYNC): decoded only to count them by type.
      const t = d.messageId !== undefined ? FrameType.PUSH : this.codec.decodeBody(d.frame.subarray(4)).t;
      if (!conn.sendEncoded(d.frame, t)) missed.push(d.deviceId);
      else if (t === FrameType.PUSH) this.metrics.pushesSent.inc();
    }
    return missed;
  }

  /**
   * Fans one broadcast out to the sessions here whose topics match its filter and whose
   * audience bucket is released by this call, in the next wave (fanout-waves.ts). Each PUSH
   * is tracked and re-sent until ACKed, like a unicast PUSH; a session that has it in
   * flight already (a catch-up raced the live publish) is not written to twice, and a
   * publish repeated whole (the dispatcher gave up waiting for the first) gets the first
   * one's answer (RecentPublishes). Resolves with the sessions the slice reached (written
   * or already in flight), and whether a later seq of the app went out here first (`late`).
   */
  publish(p: BroadcastPublish): Promise<PublishOutcome> {
    const done = this.recentPublishes.get(p.messageId, p.fromBucket, p.toBucket);
    if (done !== undefined) return done;
    const fanOut = this.waves.fanOut(p);
    this.recentPublishes.remember(p.messageId, p.fromBucket, p.toBucket, fanOut);
    return fanOut;
  }

  /** The app server changed a device's topics; false when the device has no session here. */
  changeTopics(deviceId: string, topics: readonly string[], subscribe: boolean): boolean {
    const conn = this.sessions.get(deviceId);
    if (!conn) return false;
    this.fanOut.change(conn, topics.map(ownString), subscribe);
    return true;
  }

  /** The device's whole topic set (it changed between HELLO and ONLINE); false when no session here. */
  setTopics(deviceId: string, topics: readonly string[]): boolean {
    const conn = this.sessions.get(deviceId);
    if (!conn) return false;
    const wanted = new Set(topics);
    const gone = conn.topics ? [...conn.topics].filter((t) => !wanted.has(t)) : [];
    if (gone.length > 0) this.fanOut.change(conn, gone, false);
    this.fanOut.change(conn, topics.map(ownString), true);
    return true;
  }

  /**
   * A broadcast was revoked: it is no longer re-sent here, and the sessions it was for get
   * `frame` (REVOKE), so an SDK drops it if it comes later. Returns the sessions told.
   */
  revoke(appId: string, messageId: string, frame: Buffer, filter: string): number {
    this.waves.revoke(messageId);
    let told = 0;
    for (const conn of this.fanOut.matching(appId, compileFilter(filter))) {
      this.inFlight.acked(conn, [messageId]);
      if (conn.sendEncoded(frame, FrameType.REVOKE)) told++;
    }
    return told;
  }

  /** Closes the device's session here, if any (and only if it is `sessionId` when given), with the given code. */
  kick(deviceId: string, code: number = CloseCode.AUTH_FAILED, reason?: string, sessionId = ''): boolean {
    const conn = this.sessions.get(deviceId);
    if (!conn || (sessionId !== '' && conn.sessionId !== sessionId)) return false;
    conn.close(code, reason);
    return true;
  }

  /** Authenticated sessions here (the load a gateway announces; O(1), unlike stats()). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  isConnected(deviceId: string): boolean {
    return this.sessions.has(deviceId);
  }

  stats(): GatewayStats {
    let partialFrameBytes = 0;
    for (const conn of this.connections) partialFrameBytes += conn.retainedBytes;
    return {
      id: this.id, connections: this.connections.size, sessions: this.sessions.size, closing: this.closing.size,
      inFlight: this.inFlight.size, draining: this.draining, partialFrameBytes,
    };
  }

  /** One pass over every connection: auth deadlines, liveness, lingering closes. */
  private sweep(): void {
    const started = performance.now();
    const now = this.now();
    let unauthenticated = 0;
    // A sweep a few ms early still starts a new window (timers are not exact).
    const resetCounters = started - this.countersResetAt >= this.limitWindowMs - 50;
    if (resetCounters) this.countersResetAt = started;
    for (const conn of this.connections) {
      if (resetCounters) {
        conn.framesIn = 0;
        conn.bytesIn = 0;
      }
      if (conn.deadline < now) conn.expire();
      else if (!conn.authenticated) unauthenticated++;
    }
    for (const conn of this.closing) {
      if (conn.deadline < now) {
        conn.transport.destroy();
        this.closing.delete(conn);
      }
    }
    const resent = this.inFlight.sweep(now, Date.now(), (conn, frame) => conn.sendEncoded(frame, FrameType.PUSH));
    if (resent > 0) this.metrics.pushesResent.inc(resent);
    this.metrics.connections.labels('authenticated').set(this.sessions.size);
    this.metrics.connections.labels('unauthenticated').set(unauthenticated);
    this.metrics.sweepSeconds.observe((performance.now() - started) / 1000);
  }

  /**
   * Graceful shutdown (SIGTERM): stop accepting, tell every device to come back after a
   * random delay within drainSpreadMs (BYE 4007 `retry`) so they reconnect elsewhere
   * without a thundering herd, then wait for sockets to finish closing.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info({ connections: this.connections.size }, 'gateway draining');
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const spread = this.config.drainSpreadMs;
    for (const conn of [...this.connections]) {
      conn.close(CloseCode.DRAINING, 'server draining', spread > 0 ? randomInt(spread + 1) : 0);
    }
    const deadline = Date.now() + this.config.drainTimeoutMs;
    while (this.closing.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const conn of this.closing) conn.transport.destroy();
    this.closing.clear();
    await this.sessionLimit?.stop();
    await stopped;
    this.stopSweep();
    this.log.info('gateway drained');
  }

  /** Immediate stop without BYEs (tests, fatal errors). */
  async close(): Promise<void> {
    this.draining = true;
    this.stopSweep();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of [...this.connections, ...this.closing]) conn.transport.destroy();
    this.connections.clear();
    this.closing.clear();
    this.sessions.clear();
    await this.sessionLimit?.stop();
    await stopped;
  }

  private stopSweep(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }
}
