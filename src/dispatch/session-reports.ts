import { PetrelError } from '../domain/errors.js';
import { DeliveryState } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, FrameType, type WireCodec } from '../protocol/index.js';
import type { AckReport, ReportBatch, ReportOutcome, SessionReport, SubscriptionChange } from '../rpc/contract.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { MessageStore } from '../store/message-store.js';
import type { RouteStore } from '../store/route-store.js';
import { type Courier, GatewayBatches } from './courier.js';
import type { GatewayLink, OutboundDelivery } from './gateway-link.js';
import type { SubscriptionStore } from './subscriptions.js';

export interface SessionReportsDeps {
  codec: WireCodec;
  inbox: InboxStore;
  messages: MessageStore;
  routes: RouteStore;
  subscriptions: SubscriptionStore;
  courier: Courier;
  gateways: GatewayLink;
  metrics: Metrics;
  log: Logger;
}

/**
 * What the dispatch tier does with a gateway's batched reports: presence updates the
 * device's route and replays its inbox; ACKs settle inbox entries; OPENED counts clicks;
 * SUB/UNSUB change subscriptions and answer for the SUBACK.
 */
export class SessionReports {
  private readonly resyncOverflow: Buffer;

  constructor(private readonly deps: SessionReportsDeps) {
    this.resyncOverflow = deps.codec.encode({ t: FrameType.RESYNC, reason: 'inbox_overflow' });
  }

  async handle(batch: ReportBatch): Promise<ReportOutcome> {
    const [subscriptions] = await Promise.all([
      Promise.all(batch.subscriptions.map((s) => this.subscribe(s))),
      this.sessions(batch.gatewayId, batch.sessions),
      Promise.all(batch.acks.map((a) => this.acked(a))),
      Promise.all(batch.opened.map((o) => this.deps.messages.opened(o.appId, o.deviceId, o.messageId))),
    ]);
    return { subscriptions };
  }

  /** Devices in parallel, each device's events in order. */
  private async sessions(gatewayId: string, reports: readonly SessionReport[]): Promise<void> {
    const perDevice = new Map<string, SessionReport[]>();
    for (const r of reports) {
      const list = perDevice.get(r.deviceId);
      if (list) list.push(r);
      else perDevice.set(r.deviceId, [r]);
    }
    const plan = new GatewayBatches();
    const resyncs: OutboundDelivery[] = [];
    await Promise.all(
      [...perDevice.values()].map(async (events) => {
        for (const e of events) {
          if (e.kind === 'online') await this.online(gatewayId, e, plan, resyncs);
          else await this.deps.routes.offline(e.deviceId, { gatewayId, sessionId: e.sessionId });
        }
      }),
    );
    const sent = await this.deps.courier.send(plan);
    await Promise.all(sent.filter((d) => resyncs.includes(d)).map((d) => this.deps.inbox.clearOverflow(d.deviceId)));
  }

  private async online(gatewayId: string, e: SessionReport, plan: GatewayBatches, resyncs: OutboundDelivery[]): Promise<void> {
    const { routes, inbox, messages, gateways } = this.deps;
    const previous = await routes.online(e.deviceId, { gatewayId, sessionId: e.sessionId });
    if (previous && previous.gatewayId !== gatewayId) {
      // One session per device across gateways (docs/protocol.md): the older one goes.
      // A gateway replaces sessions it holds itself; another gateway's is kicked here.
      await gateways.kick(previous.gatewayId, e.deviceId, previous.sessionId, CloseCode.REPLACED, 'replaced by a newer session');
    }
    const [ids, overflowed] = await Promise.all([inbox.pending(e.deviceId), inbox.overflowed(e.deviceId)]);
    if (overflowed) {
      const resync: OutboundDelivery = { deviceId: e.deviceId, sessionId: e.sessionId, frame: this.resyncOverflow };
      resyncs.push(resync);
      plan.put(gatewayId, resync);
    }
    if (ids.length === 0) return;
    const loaded = await messages.load(ids);
    const now = Date.now();
    const gone: string[] = [];
    loaded.forEach((m, i) => {
      if (!m || m.exp <= now) gone.push(ids[i]!);
      else plan.put(gatewayId, { deviceId: e.deviceId, sessionId: e.sessionId, frame: m.frame, messageId: m.id, expiresAt: m.exp });
    });
    // Expired entries leave the inbox here; the trace derives `expired` from the expiry.
    if (gone.length > 0) await inbox.remove(e.deviceId, gone);
    this.deps.metrics.inboxReplayed.inc(ids.length - gone.length);
  }

  private async acked(a: AckReport): Promise<void> {
    const removed = await this.deps.inbox.remove(a.deviceId, a.ids);
    await this.deps.messages.record(removed.map((messageId) => ({ messageId, deviceId: a.deviceId, state: DeliveryState.DELIVERED })));
  }

  private async subscribe(s: SubscriptionChange): Promise<{ ref: number; error: string }> {
    try {
      await this.deps.subscriptions.change(s.appId, s.deviceId, s.topics, s.subscribe);
      return { ref: s.ref, error: '' };
    } catch (err) {
      if (err instanceof PetrelError) return { ref: s.ref, error: err.code };
      this.deps.log.error({ err }, 'subscription change failed');
      return { ref: s.ref, error: 'internal' };
    }
  }
}
