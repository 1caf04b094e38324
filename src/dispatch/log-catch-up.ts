import type { Redis } from 'ioredis';
import { APP_LOG, bucketOf, compileFilter, type AudienceFilter } from '../domain/audience.js';
import type { Metrics } from '../observability/metrics.js';
import { FrameType, type WireCodec } from '../protocol/index.js';
import type { OutboundDelivery, SessionReport } from '../rpc/contract.js';
import type { BroadcastLog, LogEntryInfo, LogHead } from '../store/broadcast-log.js';
import type { RedisKeys } from '../store/keys.js';
import type { GatewayBatches } from './courier.js';

/** Entries are read-mostly and shared by every device catching up: cached this long per process. */
const ENTRY_CACHE_MS = 1000;
const ENTRY_CACHE_MAX = 20_000;

interface CachedEntry {
  info: LogEntryInfo | null;
  filter: AudienceFilter | null;
  at: number;
}

/**
 * Broadcast catch-up for a device coming online (docs/protocol.md, "Delivery semantics"):
 * the log entries after the cursor it sent in HELLO (or, without one, those accepted since
 * it registered) that match its topics, then CURSOR so its cursor moves past what was not
 * for it. RESYNC cursor_gone when entries it may have needed were trimmed. A reconnect
 * storm reads each entry once per second per dispatcher, not once per device.
 */
export class LogCatchUp {
  private readonly cache = new Map<string, CachedEntry>();
  private readonly resyncGone: Buffer;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly log: BroadcastLog,
    private readonly codec: WireCodec,
    private readonly metrics: Metrics,
  ) {
    this.resyncGone = codec.encode({ t: FrameType.RESYNC, reason: 'cursor_gone' });
  }

  /** Log heads of the apps of a report's ONLINE events: one round trip per report. */
  heads(reports: readonly SessionReport[]): Promise<Map<string, LogHead>> {
    return this.log.heads([...new Set(reports.filter((r) => r.kind === 'online').map((r) => r.appId))]);
  }

  /** Adds what the device missed to `plan`; returns the number of PUSHes added. */
  async add(plan: GatewayBatches, e: SessionReport, gatewayId: string, head: LogHead | undefined): Promise<number> {
    if (!head || (head.seq === 0 && head.paced.length === 0)) return 0;
    const cursor = e.cursors?.[APP_LOG];
    const behind = cursor === undefined || cursor < head.seq;
    // Entries a cursor may have passed without the device getting them: paced campaigns
    // still releasing their audience, and broadcasts a later seq may have overtaken
    // (keys.appLogUnsettled). Sent whatever the cursor, unless the device ACKed them.
    const unsettled = [...head.unsettled].filter(([, upTo]) => cursor === undefined || cursor <= upTo).map(([id]) => id);
    const passable = head.paced.length === 0 ? unsettled : [...new Set([...head.paced, ...unsettled])];
    if (!behind && passable.length === 0) return 0;
    const window = behind ? await this.log.after(e.appId, cursor ?? null, head.seq, this.log.maxEntries) : { ids: [], seqs: [], more: false };
    const inWindow = new Set(window.ids);
    const outside = passable.filter((id) => !inWindow.has(id));
    const entries = await this.entries([...window.ids, ...outside], head.unsettled);
    // An unsettled entry not recorded yet (its dispatch is between append and publish):
    // this catch-up moves the device past it (a later entry, or the CURSOR), so its
    // publish cannot settle it even if it reaches every gateway in order.
    const unrecorded = window.ids.filter((id, i) => entries[i]!.info === null && head.unsettled.has(id));
    if (unrecorded.length > 0) await this.log.markOvertaken(e.appId, unrecorded);
    const gone = cursor !== undefined && (cursor < head.trimmed || window.more);
    const bucket = bucketOf(e.deviceId);
    const now = Date.now();
    // First what needs neither the device's topics nor its ACKs: live, of this app, released to its bucket.
    const open = (x: CachedEntry): x is CachedEntry & { info: LogEntryInfo; filter: AudienceFilter } =>
      x.info !== null && x.filter !== null && !x.info.revoked && x.info.appId === e.appId && x.info.exp > now && bucket < x.info.released;
    let candidates = entries.filter(open);
    // Then the ACKs of the entries outside the window: one pipelined GETBIT for all, so a
    // device that is up to date costs no read of its topics.
    const outsideOpen = candidates.filter((x) => !inWindow.has(x.info.id));
    if (outsideOpen.length > 0 && e.deviceNo !== undefined) {
      const acked = await this.log.ackedBy(outsideOpen.map((x) => x.info.id), e.deviceNo);
      const done = new Set(outsideOpen.filter((_, i) => acked[i]).map((x) => x.info.id));
      candidates = candidates.filter((x) => !done.has(x.info.id));
    }
    if (candidates.length === 0) return this.finish(plan, e, gatewayId, cursor, window.seqs, 0, gone);
    const [topicList, createdAt] = await this.device(e.deviceId);
    const topics = topicList.length > 0 ? new Set(topicList) : null;
    const send = candidates
      .filter((x) => x.filter.matches(topics) && (cursor !== undefined || x.info.ts >= createdAt))
      .sort((x, y) => x.info.seq - y.info.seq); // seq order, whichever list an entry came from
    for (const x of send) {
      plan.put(gatewayId, { deviceId: e.deviceId, sessionId: e.sessionId, frame: x.info.frame, messageId: x.info.id, expiresAt: x.info.exp });
    }
    const pushed = send.length;
    return this.finish(plan, e, gatewayId, cursor, window.seqs, pushed, gone);
  }

  /** RESYNC when entries were lost; CURSOR after the PUSHes, on the same socket, so it never overtakes them. */
  private finish(plan: GatewayBatches, e: SessionReport, gatewayId: string, cursor: number | undefined, seqs: readonly number[], pushed: number, gone: boolean): number {
    const to = { deviceId: e.deviceId, sessionId: e.sessionId };
    if (gone) plan.put(gatewayId, { ...to, frame: this.resyncGone });
    const last = seqs.at(-1);
    if (last !== undefined && (cursor === undefined || last > cursor)) {
      plan.put(gatewayId, { ...to, frame: this.codec.encode({ t: FrameType.CURSOR, log: APP_LOG, seq: last }) });
    }
    this.metrics.logCatchUp.inc(pushed);
    return pushed;
  }

  /** After the plan was sent: catch-up PUSHes that reached their session count as sent. */
  async delivered(sent: readonly OutboundDelivery[]): Promise<void> {
    const counts = new Map<string, number>();
    for (const d of sent) {
      if (d.messageId === undefined || this.cache.get(d.messageId)?.info?.frame !== d.frame) continue;
      counts.set(d.messageId, (counts.get(d.messageId) ?? 0) + 1);
    }
    await this.log.countSent(counts);
  }

  private async device(deviceId: string): Promise<[string[], number]> {
    const [[, topics], [, createdAt]] = (await this.redis.multi()
      .smembers(this.keys.deviceTopics(deviceId))
      .hget(this.keys.device(deviceId), 'createdAt')
      .exec()) as [[Error | null, string[]], [Error | null, string | null]];
    return [topics, Number(createdAt ?? 0)];
  }

  /** Entries by id, cached; an entry of `fresh` is never taken from a cached "not recorded". */
  private async entries(ids: readonly string[], fresh: ReadonlyMap<string, number>): Promise<CachedEntry[]> {
    const now = Date.now();
    const missing = ids.filter((id) => {
      const hit = this.cache.get(id);
      return !hit || now - hit.at > ENTRY_CACHE_MS || (hit.info === null && fresh.has(id));
    });
    if (missing.length > 0) {
      const loaded = await this.log.entries(missing);
      if (this.cache.size + missing.length > ENTRY_CACHE_MAX) this.cache.clear();
      missing.forEach((id, i) => {
        const info = loaded[i] ?? null;
        this.cache.set(id, { info, filter: info ? safeFilter(info.filter) : null, at: now });
      });
    }
    return ids.map((id) => this.cache.get(id)!);
  }
}

/** A filter stored by an older release that no longer parses matches nobody (never crashes catch-up). */
function safeFilter(text: string): AudienceFilter | null {
  try {
    return compileFilter(text);
  } catch {
    return null;
  }
}
