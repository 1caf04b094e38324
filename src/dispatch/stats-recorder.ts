import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { bucketStart, type StatCounts, type StatField, type StatIncrement, type StatsStore } from '../store/stats-store.js';
import type { DeliveryEventConsumer, DeliveryEventType, EmittedEvent } from './delivery-events.js';

const fieldOf: Readonly<Record<DeliveryEventType, StatField>> = {
  delivered: 'delivered',
  opened: 'opened',
  expired: 'expired',
  invalid_target: 'failed',
};

/**
 * Per-app counters, gathered in process and written every `flushMs` in one pipeline: an
 * ACK storm is then a few HINCRBYs per app and hour per flush, not one write per ACK.
 * What a process holds when it dies unflushed is lost (statistics, not delivery state).
 */
export class StatsRecorder implements DeliveryEventConsumer {
  /** appId + ' ' + hour start → counts */
  private pending = new Map<string, StatIncrement>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: StatsStore,
    private readonly flushMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  count(appId: string, field: StatField, at = Date.now(), n = 1): void {
    const hour = bucketStart('hour', at);
    const key = `${appId} ${hour}`;
    let inc = this.pending.get(key);
    if (!inc) {
      inc = { appId, hour, counts: {} };
      this.pending.set(key, inc);
    }
    inc.counts[field] = (inc.counts[field] ?? 0) + n;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushMs);
  }

  onEvents(events: readonly EmittedEvent[]): void {
    for (const { event } of events) this.count(event.appId, fieldOf[event.type], event.at, event.count ?? 1);
  }

  /** Writes what was gathered; one flush at a time, so a slow Redis is not written to in parallel. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        await this.store.add(batch);
        this.metrics.statsFlushes.labels('ok').inc();
      } catch (err) {
        this.metrics.statsFlushes.labels('failed').inc();
        this.log.warn({ err: (err as Error).message, buckets: batch.length }, 'stats flush failed; kept for the next one');
        for (const inc of batch) for (const [field, n] of Object.entries(inc.counts) as Array<[keyof StatCounts, number]>) this.count(inc.appId, field, inc.hour, n);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    // A failed last flush re-armed the timer: nothing more can be written after close.
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
