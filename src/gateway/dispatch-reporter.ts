import { isErrorCode, PetrelError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AckReport, BroadcastAcks, OpenedReport, ReportBatch, ReportOutcome, SessionReport, SubscriptionChange } from '../rpc/contract.js';
import type { Session, SessionHooks } from './session-hooks.js';

/** How a gateway reaches the dispatch tier (Thrift DispatchService; rpc/dispatch-client.ts). */
export interface DispatchLink {
  report(batch: ReportBatch): Promise<ReportOutcome>;
}

export interface ReporterOptions {
  gatewayId: string;
  intervalMs: number;
  /** Entries held while the dispatch tier does not answer; the oldest go first beyond it. */
  backlog: number;
  /**
   * Entries (each ACKed id, presence event, click, SUB/UNSUB) in one report. A fan-out to
   * every device of a gateway brings in one ACK per device within milliseconds; unbounded,
   * the report that gathers them while the previous one is in flight outgrows the Thrift
   * frame limit and the dispatcher refuses it, every retry, forever.
   */
  maxEntries: number;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Session hooks of a gateway that is part of a deployment: everything a device reports
 * (presence, ACKs, OPENED, SUB/UNSUB) is gathered for a few milliseconds and sent to a
 * dispatcher in one Thrift call (docs/architecture.md). One report is in flight at a
 * time, so the dispatcher sees a device's online and offline in the order they happened.
 * A failed report is retried with backoff; SUB/UNSUB in it fail at once (the device
 * gets SUBACK ok=false and may retry) since a device waits for those.
 */
export class DispatchReporter implements SessionHooks {
  private sessions: SessionReport[] = [];
  private acks = new Map<string, AckReport>();
  /** By broadcastKey(app, message). */
  private broadcastAcks = new Map<string, BroadcastAcks>();
  private opens: OpenedReport[] = [];
  private subscriptions: SubscriptionChange[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private nextRef = 1;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly link: DispatchLink,
    private readonly options: ReporterOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  sessionOpened(s: Session): void {
    const report: SessionReport = { kind: 'online', deviceId: s.deviceId, appId: s.appId, sessionId: s.sessionId };
    if (s.cursors) report.cursors = s.cursors;
    if (s.deviceNo >= 0) report.deviceNo = s.deviceNo;
    report.topicsVersion = s.topicsVersion;
    this.sessions.push(report);
    this.schedule();
  }

  sessionClosed(s: Session, closeCode: number): void {
    this.sessions.push({ kind: 'offline', deviceId: s.deviceId, appId: s.appId, sessionId: s.sessionId, closeCode });
    this.schedule();
  }

  acked(s: Session, ids: readonly string[]): void {
    const pending = this.acks.get(s.deviceId);
    if (pending) pending.ids.push(...ids);
    else this.acks.set(s.deviceId, { deviceId: s.deviceId, appId: s.appId, ids: [...ids], ...(s.deviceNo >= 0 ? { deviceNo: s.deviceNo } : {}) });
    this.schedule();
  }

  broadcastAcked(s: Session, messageIds: readonly string[]): void {
    for (const messageId of messageIds) {
      const key = broadcastKey(s.appId, messageId);
      const pending = this.broadcastAcks.get(key);
      if (pending) pending.deviceNos.push(s.deviceNo);
      else this.broadcastAcks.set(key, { appId: s.appId, messageId, deviceNos: [s.deviceNo] });
    }
    this.schedule();
  }

  opened(s: Session, messageId: string): void {
    this.opens.push({ deviceId: s.deviceId, appId: s.appId, messageId });
    this.schedule();
  }

  subscribe(s: Session, topics: readonly string[], subscribe: boolean): Promise<void> {
    const ref = this.nextRef++;
    this.subscriptions.push({ ref, deviceId: s.deviceId, appId: s.appId, topics: [...topics], subscribe });
    this.schedule();
    return new Promise((resolve, reject) => this.waiters.set(ref, { resolve, reject }));
  }

  /** Sends what is buffered now and waits for it (drain, shutdown). */
  async flush(): Promise<void> {
    while (this.inFlight || this.pendingEntries() > 0) {
      if (this.inFlight) await this.inFlight;
      else this.send();
      if (this.failures > 0) return;
    }
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private pendingEntries(): number {
    return this.sessions.length + this.acks.size + this.broadcastAcks.size + this.opens.length + this.subscriptions.length;
  }

  private schedule(delayMs = this.options.intervalMs): void {
    if (this.timer || this.inFlight || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send();
    }, delayMs);
  }

  private send(): void {
    if (this.inFlight || this.pendingEntries() === 0) return;
    const batch = this.takeBatch();
    const full = this.pendingEntries() > 0;
    this.inFlight = this.link.report(batch).then(
      (outcome) => {
        this.failures = 0;
        this.metrics.reportsSent.labels('ok').inc();
        for (const { ref, error } of outcome.subscriptions) {
          const waiter = this.waiters.get(ref);
          this.waiters.delete(ref);
          if (!waiter) continue;
          if (error === '') waiter.resolve();
          else waiter.reject(new PetrelError(isErrorCode(error) ? error : 'internal'));
        }
      },
      (err: unknown) => {
        this.failures++;
        this.metrics.reportsSent.labels('failed').inc();
        if (this.failures === 1) this.log.warn({ err: (err as Error).message }, 'reporting to the dispatch tier failed; retrying');
        for (const s of batch.subscriptions) {
          this.waiters.get(s.ref)?.reject(new PetrelError('rpc_unavailable'));
          this.waiters.delete(s.ref);
        }
        this.requeue(batch);
      },
    ).finally(() => {
      this.inFlight = null;
      // What did not fit in this report goes at once: it has already waited an interval.
      if (this.pendingEntries() > 0) this.schedule(this.failures === 0 ? (full ? 0 : this.options.intervalMs) : Math.min(2000, 50 * 2 ** this.failures));
    });
  }

  /**
   * Takes at most `maxEntries` off the buffers for one report. SUB/UNSUB first (a device
   * waits on them), then presence in order; ACKs and clicks only once every presence event
   * before them is in, so the dispatcher never sees a device's ACK ahead of its coming online.
   */
  private takeBatch(): ReportBatch {
    let budget = this.options.maxEntries;
    const subscriptions = this.subscriptions.splice(0, budget);
    budget -= subscriptions.length;
    const sessions = this.sessions.splice(0, budget);
    budget -= sessions.length;
    const acks: AckReport[] = [];
    const broadcastAcks: BroadcastAcks[] = [];
    let opened: OpenedReport[] = [];
    if (this.sessions.length === 0) {
      budget = takeUpTo(this.acks, 'ids', budget, acks);
      budget = takeUpTo(this.broadcastAcks, 'deviceNos', budget, broadcastAcks);
      opened = this.opens.splice(0, budget);
    }
    return { gatewayId: this.options.gatewayId, sessions, acks, broadcastAcks, opened, subscriptions };
  }

  /** Puts a failed batch back in front of what came since, within the backlog cap. */
  private requeue(batch: ReportBatch): void {
    this.sessions = [...batch.sessions, ...this.sessions];
    this.acks = putBack(batch.acks, (a) => a.deviceId, 'ids', this.acks);
    this.broadcastAcks = putBack(batch.broadcastAcks, (b) => broadcastKey(b.appId, b.messageId), 'deviceNos', this.broadcastAcks);
    this.opens = [...batch.opened, ...this.opens];
    let excess = this.pendingEntries() - this.options.backlog;
    if (excess <= 0) return;
    // ACKs first (their messages are simply re-sent on the next session), then the oldest clicks and presence.
    for (const held of [this.acks, this.broadcastAcks]) {
      for (const key of held.keys()) {
        if (excess <= 0) break;
        excess--;
        held.delete(key);
        this.metrics.reportsDropped.inc();
      }
    }
    if (excess > 0) {
      const n = Math.min(excess, this.opens.length);
      this.opens.splice(0, n);
      excess -= n;
    }
    if (excess > 0) this.sessions.splice(0, excess);
  }
}

/**
 * Moves entries of `from` into `into` until `budget` list items (ids, device numbers) are
 * taken, splitting the last entry if it does not fit whole; returns what is left of the budget.
 */
function takeUpTo<K extends 'ids' | 'deviceNos', T extends Record<K, unknown[]>>(from: Map<string, T>, list: K, budget: number, into: T[]): number {
  for (const [key, entry] of from) {
    if (budget <= 0) break;
    const items = entry[list];
    if (items.length <= budget) {
      into.push(entry);
      from.delete(key);
      budget -= items.length;
    } else {
      into.push({ ...entry, [list]: items.splice(0, budget) });
      budget = 0;
    }
  }
  return budget;
}

/**
 * A failed report's entries back in front of those gathered since: one entry per key, the
 * failed report's items (ids, device numbers) first.
 */
function putBack<K extends 'ids' | 'deviceNos', T extends Record<K, unknown[]>>(failed: readonly T[], keyOf: (entry: T) => string, list: K, since: Map<string, T>): Map<string, T> {
  const merged = new Map(failed.map((entry) => [keyOf(entry), entry]));
  for (const [key, entry] of since) {
    const earlier = merged.get(key);
    if (earlier) earlier[list].push(...entry[list]);
    else merged.set(key, entry);
  }
  return merged;
}

function broadcastKey(appId: string, messageId: string): string {
  return `${appId} ${messageId}`;
}
