import { FrameType, type WelcomeFrame } from '../../src/protocol/index.js';
import { Backoff } from './connection-loop/backoff.js';
import { planReconnect } from './connection-loop/reconnect-plan.js';
import { DeliveryLedger } from './delivery-ledger.js';
import { DeviceLink } from './device-link.js';
import { DeviceSession, type SessionContext, type SessionEnd } from './device-session.js';
import { PetrelError } from './errors.js';
import { TypedEmitter, type ClientEvents } from './events.js';
import { resolveOptions, type ClientConfig, type PetrelClientOptions } from './options.js';
import { SubscriptionRequests } from './subscription-requests.js';

/**
 * idle: constructed; starting: loading state; connecting: a connection is being set up
 * (register / HELLO); connected: WELCOME received; waiting: reconnect delay;
 * stopped: the gateway said never to reconnect (4006, 4010); closed: close() was called.
 */
export type ClientStatus = 'idle' | 'starting' | 'connecting' | 'connected' | 'waiting' | 'stopped' | 'closed';

/** OPENED reports kept while offline; click statistics are not worth unbounded memory. */
const MAX_QUEUED_OPENS = 256;
const MAX_TOPIC_LENGTH = 256;

/**
 * A device's connection to a Petrel gateway: registers once, authenticates, receives
 * pushes (deduplicated, persisted, then ACKed), and reconnects per the close-code policy
 * of docs/protocol.md until close() or a stop code.
 */
export class PetrelClient extends TypedEmitter<ClientEvents> {
  private readonly config: ClientConfig;
  private readonly ledger: DeliveryLedger;
  private readonly requests: SubscriptionRequests;
  private readonly backoff: Backoff;
  private readonly sessionContext: SessionContext;
  private session: DeviceSession | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private state: ClientStatus = 'idle';
  private queuedOpens: string[] = [];
  private closing: Promise<void> | null = null;

  constructor(options: PetrelClientOptions) {
    super();
    this.config = resolveOptions(options);
    this.ledger = new DeliveryLedger(this.config.store, this.config.appId, this.config.dedupCapacity);
    this.requests = new SubscriptionRequests(this.config.requestTimeoutMs);
    this.backoff = new Backoff(this.config.backoff);
    this.sessionContext = new PetrelClient.ClientSessionContext(this);
  }

  /**
   * The SessionContext of one client. A class nested here, so that it may call the client's
   * private handlers: one small object per client where an object of arrow functions would
   * be three closures and their scope (benchmark processes hold thousands of clients, and
   * tsx additionally wraps each named arrow function in a defineProperty call).
   */
  private static readonly ClientSessionContext = class implements SessionContext {
    readonly config: ClientConfig;
    readonly ledger: DeliveryLedger;
    readonly requests: SubscriptionRequests;

    constructor(private readonly client: PetrelClient) {
      this.config = client.config;
      this.ledger = client.ledger;
      this.requests = client.requests;
    }

    emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
      this.client.emit(event, payload);
    }

    onReady(session: DeviceSession, welcome: WelcomeFrame): void {
      this.client.onSessionReady(session, welcome);
    }

    onEnd(session: DeviceSession, end: SessionEnd): void {
      this.client.onSessionEnd(session, end);
    }
  };

  get status(): ClientStatus {
    return this.state;
  }

  /** The device id (regId) once registered or loaded from the store; null before. */
  get deviceId(): string | null {
    return this.ledger.credentials?.dev ?? null;
  }

  /**
   * Loads device state and starts connecting. Resolves once the first connection attempt
   * is under way, not when connected (listen for 'connected'): a gateway that is down
   * must not hang the app's startup. Rejects if the store cannot be read.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new PetrelError('already_started');
    this.state = 'starting';
    try {
      await this.ledger.load();
    } catch (err) {
      if (this.state === 'starting') this.state = 'idle';
      throw err;
    }
    if (this.isFinished()) return;
    this.connect();
  }

  /** Subscribes to topics; resolves on SUBACK ok. Waits for a connection if there is none. */
  subscribe(topics: string[]): Promise<void> {
    return this.request(FrameType.SUB, topics);
  }

  unsubscribe(topics: string[]): Promise<void> {
    return this.request(FrameType.UNSUB, topics);
  }

  /**
   * Reports that the user opened a notification (click statistics). Sent now if
   * connected, else on the next connection (up to 256 are kept; older ones are dropped).
   */
  opened(id: string): void {
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
      throw new PetrelError('invalid_argument', 'message id must be a string of 1..128 characters');
    }
    if (this.isFinished()) return;
    if (this.session?.send({ t: FrameType.OPENED, id }) === true) return;
    if (this.queuedOpens.push(id) > MAX_QUEUED_OPENS) this.queuedOpens.shift();
  }

  /**
   * Persists and ACKs what was received, sends BYE 1000, and resolves when the socket is
   * closed. No reconnect follows. Pending requests reject with client_closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  protected override onListenerError(event: keyof ClientEvents, err: unknown): void {
    if (event === 'error') super.onListenerError(event, err);
    else this.emit('error', new PetrelError('listener_failed', `a '${event}' listener threw`, { cause: err }));
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed';
    this.clearReconnectTimer();
    this.requests.rejectAll(new PetrelError('client_closed'));
    this.queuedOpens = [];
    if (this.session !== null) await this.session.close();
    try {
      await this.ledger.flush();
    } catch (err) {
      this.emit('error', err instanceof PetrelError ? err : new PetrelError('store_failed', undefined, { cause: err }));
    }
  }

  private request(kind: typeof FrameType.SUB | typeof FrameType.UNSUB, topics: string[]): Promise<void> {
    if (!Array.isArray(topics) || topics.length === 0 || !topics.every((t) => typeof t === 'string' && t.length > 0 && t.length <= MAX_TOPIC_LENGTH)) {
      return Promise.reject(new PetrelError('invalid_argument', `topics must be a non-empty array of strings of 1..${MAX_TOPIC_LENGTH} characters`));
    }
    if (this.state === 'closed') return Promise.reject(new PetrelError('client_closed'));
    if (this.state === 'stopped') return Promise.reject(new PetrelError('client_stopped'));
    return this.requests.request(kind, topics);
  }

  private isFinished(): boolean {
    return this.state === 'closed' || this.state === 'stopped';
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.isFinished()) return;
    this.state = 'connecting';
    const session = new DeviceSession(this.sessionContext);
    this.session = session;
    let link: DeviceLink;
    try {
      link = new DeviceLink(this.config, this.config.codec, session);
    } catch (err) {
      // net/tls can throw synchronously on bad arguments (e.g. localAddress); treat it
      // like a failed connection so the backoff applies instead of a tight loop.
      session.onEnd({ error: err instanceof Error ? err : new Error(String(err)) });
      return;
    }
    session.start(link);
  }

  private onSessionReady(session: DeviceSession, welcome: WelcomeFrame): void {
    if (this.session !== session) return;
    this.state = 'connected';
    this.requests.attach(session);
    if (this.queuedOpens.length > 0) {
      const opens = this.queuedOpens;
      this.queuedOpens = [];
      for (const id of opens) session.send({ t: FrameType.OPENED, id });
    }
    const deviceId = this.ledger.credentials?.dev ?? '';
    this.emit('connected', { sid: welcome.sid, hb: welcome.hb, deviceId });
  }

  private onSessionEnd(session: DeviceSession, end: SessionEnd): void {
    if (this.session !== session) return;
    this.session = null;
    this.requests.detach();
    const code = end.byeCode;
    const reason = end.byeReason ?? end.reason;
    const base = { ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) };
    if (end.closedByClient || this.isFinished()) {
      this.emit('disconnected', { ...base, willReconnect: false, delayMs: 0 });
      return;
    }
    // A connection that stayed authenticated long enough proves the path healthy; one
    // that dies right after WELCOME must keep growing the delay, or it becomes a loop.
    if (end.authenticatedAt !== null && Date.now() - end.authenticatedAt >= this.config.backoff.resetAfterMs) {
      this.backoff.reset();
    }
    const plan = planReconnect(code, end.byeReason, end.retryMs, this.backoff, this.config.backoff.baseMs);
    if (plan.kind === 'stop') {
      this.state = 'stopped';
      this.requests.rejectAll(new PetrelError('client_stopped'));
      this.queuedOpens = [];
      this.emit('disconnected', { ...base, willReconnect: false, delayMs: 0 });
      this.emit('stopped', { code: code ?? 0, ...(reason !== undefined ? { reason } : {}) });
      return;
    }
    this.state = 'waiting';
    this.emit('disconnected', { ...base, willReconnect: true, delayMs: plan.delayMs });
    if (this.isFinished()) return; // a listener called close()
    if (plan.reregister) void this.reregisterAfter(plan.delayMs);
    else this.scheduleReconnect(plan.delayMs);
  }

  /** 4001: these credentials will never work again; forget them, then register anew. */
  private async reregisterAfter(delayMs: number): Promise<void> {
    try {
      await this.ledger.forgetCredentials();
    } catch (err) {
      // Still re-register: the new REGISTERED overwrites whatever the store kept.
      this.emit('error', err instanceof PetrelError ? err : new PetrelError('store_failed', undefined, { cause: err }));
    }
    if (!this.isFinished()) this.scheduleReconnect(delayMs);
  }

  private scheduleReconnect(delayMs: number): void {
    this.clearReconnectTimer();
    // Deliberately not unref'd: a push client waiting to reconnect is the app's work.
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }
}
