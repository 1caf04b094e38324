import type { Logger } from '../observability/logger.js';
import type { CampaignStore, SeriesField } from '../store/campaign-store.js';
import { SERIES_BUCKET_MS } from './campaign-runner.js';
import type { DeliveryEventConsumer, EmittedEvent } from './delivery-events.js';

/**
 * Campaign time series (deliveries and clicks per 10 s, for the charts of
 * GET /v1/campaigns/{id}/series), gathered from delivery events and written once per
 * `flushMs`. Like the app statistics, what a process holds when it dies unflushed is lost:
 * the campaign's totals come from its messages' counters, which are exact.
 */
export class CampaignSeries implements DeliveryEventConsumer {
  private pending = new Map<string, { appId: string; campaignId: string; bucket: number; field: SeriesField; n: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: CampaignStore,
    private readonly flushMs: number,
    private readonly log: Logger,
  ) {}

  onEvents(events: readonly EmittedEvent[]): void {
    for (const { event } of events) {
      if (!event.campaignId || (event.type !== 'delivered' && event.type !== 'opened')) continue;
      const bucket = event.at - (event.at % SERIES_BUCKET_MS);
      const key = `${event.appId} ${event.campaignId} ${bucket} ${event.type}`;
      const point = this.pending.get(key) ?? { appId: event.appId, campaignId: event.campaignId, bucket, field: event.type, n: 0 };
      point.n += event.count ?? 1;
      this.pending.set(key, point);
    }
    if (this.pending.size > 0) this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const points = [...this.pending.values()];
    this.pending = new Map();
    await this.store.addSeries(points).catch((err: unknown) => this.log.warn({ err: (err as Error).message, points: points.length }, 'campaign series flush failed; points dropped'));
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
