import { PetrelError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode } from '../protocol/index.js';
import type { AckReport, BroadcastAcks, OpenedReport, ReportBatch, ReportOutcome, SessionReport, SubscriptionChange } from '../rpc/contract.js';
import type { BroadcastLog, LogHead } from '../store/broadcast-log.js';
import type { MessageStore } from '../store/message-store.js';
import { storage } from '../store/redis.js';
import type { RouteStore } from '../store/route-store.js';
import { type Courier, GatewayBatches } from './courier.js';
import { type DeliveryEvent, type DeliveryEvents, emitted } from './delivery-events.js';
import type { GatewayLink } from './gateway-link.js';
import type { InboxReplay } from './inbox-replay.js';
import type { LogCatchUp } from './log-catch-up.js';
import type { SubscriptionStore } from './subscriptions.js';

export interface SessionReportsDeps {
  replay: InboxReplay;
  catchUp: LogCatchUp;
  broadcasts: BroadcastLog;
  messages: MessageStore;
  routes: RouteStore;
  subscriptions: SubscriptionStore;
  courier: Courier;
  gateways: GatewayLink;
  events: DeliveryEvents;
  metrics: Metrics;
  log: Logger;
}

/**
 * What the dispatch tier does with a gateway's batched reports: presence updates the
 * device's route and replays its inbox; ACKs settle inbox entries; OPENED counts clicks;
 * SUB/UNSUB change subscriptions and answer for the SUBACK.
 */
export class SessionReports {
  constructor(private readonly deps: SessionReportsDeps) {}

  async handle(batch: ReportBatch): Promise<ReportOutcome> {
    const [subscriptions] = await Promise.all([
      Promise.all(batch.subscriptions.map((s) => this.subscribe(s))),
      this.sessions(batch.gatewayId, batch.sessions),
      this.acked(batch.acks, batch.broadcastAcks),
      Promise.all(batch.opened.map((o) => this.opened(o))),
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
    const heads = await this.deps.catchUp.heads(reports);
    await Promise.all(
      [...perDevice.values()].map(async (events) => {
        for (const e of events) {
          if (e.kind === 'online') await this.online(gatewayId, e, plan, heads);
          else await this.deps.routes.offline(e.deviceId, { gatewayId, sessionId: e.sessionId });
        }
      }),
    );
    const sent = await this.deps.courier.send(plan);
    await Promise.all([this.deps.replay.delivered(sent), this.deps.catchUp.delivered(sent)]);
  }

  private async online(gatewayId: string, e: SessionReport, plan: GatewayBatches, heads: ReadonlyMap<string, LogHead>): Promise<void> {
    const { previous, invalidated, topicsVersion } = await this.deps.routes.online(e.deviceId, { gatewayId, sessionId: e.sessionId });
    if (invalidated) {
      // Invalidated between its HELLO and this report: the invalidation may have looked
      // for a route before this one existed, so the session is closed from here.
      void this.deps.gateways.kick(gatewayId, e.deviceId, e.sessionId, CloseCode.AUTH_FAILED, 'device invalidated');
      return;
    }
    if (previous && previous.gatewayId !== gatewayId) {
      // One session per device across gateways (docs/protocol.md): the older one goes.
      // A gateway replaces sessions it holds itself; another gateway's is kicked here —
      // not awaited: a frozen old gateway must not hold up this report (kick logs failures).
      void this.deps.gateways.kick(previous.gatewayId, e.deviceId, previous.sessionId, CloseCode.REPLACED, 'replaced by a newer session');
    }
    if (e.topicsVersion !== undefined && e.topicsVersion !== topicsVersion) {
      // The app server changed the device's topics after its HELLO read them and before
      // this route existed for it to find: the session gets the whole set now (not awaited,
      // like a kick; setTopics logs failures).
      this.deps.subscriptions.topicsOf(e.deviceId).then(
        (topics) => this.deps.gateways.setTopics(gatewayId, e.deviceId, topics),
        (err: unknown) => this.deps.log.warn({ err, deviceId: e.deviceId }, 'topics changed during HELLO: could not read them for the gateway'),
      );
    }
    await this.deps.replay.add(plan, e.deviceId, gatewayId, e.sessionId);
    await this.deps.catchUp.add(plan, e, gatewayId, heads.get(e.appId));
  }

  /**
   * Unicast ACKs settle inbox entries; an id not in the device's inbox may be a broadcast
   * (or a repeated ACK): those are counted per message, once per device, in one script call
   * per message for the whole report. ACKs the gateway knows are of its own broadcast
   * fan-out come by device number and skip the inbox (a broadcast is never in one).
   */
  private async acked(acks: readonly AckReport[], fannedOut: readonly BroadcastAcks[]): Promise<void> {
    const broadcast = new Map<string, { appId: string; nos: number[] }>();
    const count = (appId: string, messageId: string, nos: readonly number[]) => {
      const key = `${appId} ${messageId}`;
      const entry = broadcast.get(key);
      if (entry) entry.nos.push(...nos);
      else broadcast.set(key, { appId, nos: [...nos] });
    };
    for (const b of fannedOut) count(b.appId, b.messageId, b.deviceNos);
    await Promise.all(acks.map(async (a) => {
      // Only ids that were still in the inbox count: a repeated ACK finds nothing to remove.
      const { counted, notInInbox } = await this.deps.messages.acked(a.deviceId, a.ids);
      this.deps.events.counted(counted);
      if (a.deviceNo === undefined) return;
      for (const id of notInInbox) count(a.appId, id, [a.deviceNo]);
    }));
    const at = Date.now();
    await Promise.all([...broadcast].map(async ([key, { appId, nos }]) => {
      const messageId = key.slice(appId.length + 1);
      const r = await this.deps.broadcasts.acked(messageId, appId, nos);
      if (!r || r.counted === 0) return;
      this.deps.metrics.broadcastAcks.inc(r.counted);
      const event: DeliveryEvent = { type: 'delivered', appId, messageId, at, count: r.counted };
      if (r.campaignId) event.campaignId = r.campaignId;
      this.deps.events.emit([{ event }]);
    }));
  }

  private async opened(o: OpenedReport): Promise<void> {
    const counted = await this.deps.messages.opened(o.appId, o.deviceId, o.messageId);
    if (counted === null) return;
    const event: DeliveryEvent = { type: 'opened', appId: o.appId, messageId: o.messageId, deviceId: o.deviceId, at: Date.now() };
    if (counted.campaignId) event.campaignId = counted.campaignId;
    this.deps.events.emit([emitted(event, counted.callbackUrl)]);
  }

  private async subscribe(s: SubscriptionChange): Promise<{ ref: number; error: string }> {
    try {
      await storage(this.deps.subscriptions.change(s.appId, s.deviceId, s.topics, s.subscribe));
      return { ref: s.ref, error: '' };
    } catch (err) {
      if (err instanceof PetrelError) return { ref: s.ref, error: err.code };
      this.deps.log.error({ err }, 'subscription change failed');
      return { ref: s.ref, error: 'internal' };
    }
  }
}
