import type { Logger } from '../observability/logger.js';
import type { SessionCountStore } from '../store/session-counts.js';

export interface AppSessionLimitOptions {
  /** This process's id among the publishers of session counts: unique per process start. */
  counter: string;
  /** How often counts are published and the other gateways' read. */
  refreshMs: number;
  /** Published counts stop counting this long after their publisher's last refresh. */
  lapseMs: number;
}

/** Refreshes without a HELLO of an app after which its counts are no longer read. */
const FORGET_AFTER_REFRESHES = 60;

/**
 * The gateway's side of the per-app session limit (`gateway.limits.sessionsPerApp`,
 * docs/architecture.md "Sessions per app"). A HELLO is checked against this gateway's own
 * live sessions of the app, which are exact, plus what the other live gateways published
 * at the last refresh: no Redis round trip per HELLO, so a connect storm costs Redis one
 * pipeline per gateway per refresh, whatever its size. The price is that gateways admitting
 * the same app at once can overshoot the limit by what they admit within one refresh.
 */
export class AppSessionLimit {
  /** Sessions the other live gateways held at the last refresh, by app. */
  private others = new Map<string, number>();
  /** Apps a HELLO asked about → the refresh it last did, so idle apps stop being read. */
  private readonly asked = new Map<string, number>();
  /** Apps this process published a count for at the last refresh. */
  private published: ReadonlySet<string> = new Set();
  private generation = 0;
  private refreshing: Promise<void> | null = null;
  /** An app was asked about for the first time during a refresh: refresh again after it. */
  private rerun = false;
  private timer: NodeJS.Timeout | null = null;
  private localCounts: (() => ReadonlyMap<string, number>) | null = null;

  constructor(
    private readonly store: SessionCountStore,
    private readonly options: AppSessionLimitOptions,
    private readonly log: Logger,
  ) {}

  /**
   * True when one more session keeps the app within `limit`; `local` is the app's sessions
   * on this gateway now. Remembers the app, so its count elsewhere is read from now on.
   */
  admits(appId: string, local: number, limit: number): boolean {
    // The first HELLO of an app this gateway has not read yet is checked on local sessions
    // only; its count elsewhere is fetched at once rather than at the next refresh, so a
    // gateway that just started does not admit a whole refresh interval unchecked.
    const unread = !this.others.has(appId) && !this.asked.has(appId);
    this.asked.set(appId, this.generation);
    if (unread) this.refreshSoon();
    return local + (this.others.get(appId) ?? 0) < limit;
  }

  /** Sessions other gateways held of the app at the last refresh (0 when not read yet). */
  elsewhere(appId: string): number {
    return this.others.get(appId) ?? 0;
  }

  /** Refreshes every refreshMs with the counts `localCounts` gives (apps with sessions here). */
  start(localCounts: () => ReadonlyMap<string, number>): void {
    if (this.timer) return;
    this.localCounts = localCounts;
    this.timer = setInterval(() => void this.refresh(localCounts()), this.options.refreshMs);
    this.timer.unref();
    void this.refresh(localCounts());
  }

  /**
   * Publishes `counts` and reads the other gateways' counts of the apps that have sessions
   * here or were asked about lately. One at a time: with Redis slow, a refresh is skipped
   * rather than queued behind the last one. On failure the last view is kept (the limit
   * errs towards what it knew) and the next refresh tries again.
   */
  refresh(counts: ReadonlyMap<string, number>): Promise<void> {
    this.refreshing ??= this.exchange(counts).finally(() => {
      this.refreshing = null;
      if (this.rerun) this.refreshSoon();
    });
    return this.refreshing;
  }

  private refreshSoon(): void {
    if (!this.localCounts) return;
    if (this.refreshing) {
      this.rerun = true;
      return;
    }
    this.rerun = false;
    void this.refresh(this.localCounts());
  }

  private async exchange(counts: ReadonlyMap<string, number>): Promise<void> {
    const generation = ++this.generation;
    for (const [app, askedAt] of this.asked) {
      if (generation - askedAt > FORGET_AFTER_REFRESHES) this.asked.delete(app);
    }
    const apps = new Set([...counts.keys(), ...this.asked.keys()]);
    const emptied = [...this.published].filter((app) => !counts.has(app));
    try {
      this.others = await this.store.exchange(this.options.counter, counts, emptied, [...apps], this.options.lapseMs);
      this.published = new Set(counts.keys());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'session counts: refresh failed; keeping the last view');
    }
  }

  /** Stops refreshing; the other gateways stop counting this one's sessions at once. */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    this.localCounts = null;
    await this.refreshing;
    await this.store.withdraw(this.options.counter, this.published).catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'session counts: withdraw failed; they lapse instead');
    });
  }
}
