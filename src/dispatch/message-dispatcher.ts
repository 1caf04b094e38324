import type { Redis } from 'ioredis';
import { DeliveryState, type StoredMessage } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { BindingStore } from '../store/binding-store.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { RedisKeys } from '../store/keys.js';
import type { MessageStore, StateChange } from '../store/message-store.js';
import type { RouteStore } from '../store/route-store.js';
import { type Courier, GatewayBatches } from './courier.js';
import { activeDevicesOf } from './device-directory.js';

export interface DispatcherDeps {
  redis: Redis;
  keys: RedisKeys;
  messages: MessageStore;
  inbox: InboxStore;
  routes: RouteStore;
  bindings: BindingStore;
  courier: Courier;
  metrics: Metrics;
  log: Logger;
  /** Sends to at most this many devices keep a per-device trace. */
  traceDevices: number;
}

/**
 * The unicast fan-out of one send job (write diffusion, docs/architecture.md): resolve
 * the targets to devices, put the message in each device's inbox, then hand it to the
 * gateways of the devices that are online. Every step is idempotent, so a job that is
 * run again after its dispatcher died changes nothing already done; the device may get
 * a PUSH twice, and its SDK drops the duplicate by id.
 */
export class MessageDispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  async dispatch(messageIds: readonly string[]): Promise<void> {
    const loaded = await this.deps.messages.load(messageIds);
    const plan = new GatewayBatches();
    await Promise.all(
      loaded.map(async (m, i) => {
        if (m) await this.fanOut(m, plan);
        else this.deps.log.warn({ id: messageIds[i] }, 'message of a send job is gone (trace retention passed?)');
      }),
    );
    await this.deps.courier.send(plan);
  }

  private async fanOut(m: StoredMessage, plan: GatewayBatches): Promise<void> {
    const { inbox, routes, messages } = this.deps;
    const { active, unknown } = await this.resolve(m);
    const now = Date.now();
    const trace = active.length + unknown.length <= this.deps.traceDevices ? new Map<string, DeliveryState>() : null;
    for (const d of unknown) trace?.set(d, DeliveryState.FAILED);

    // TTL 0 (deliver now or drop): only devices connected right now are kept at all.
    const live = m.exp <= now;
    let stored = active;
    if (live) {
      const found = await routes.lookup(active);
      stored = active.filter((_, i) => found[i] !== null);
      for (const d of active) if (!trace?.has(d) && !stored.includes(d)) trace?.set(d, DeliveryState.DROPPED);
    }
    // Even a TTL 0 message sits in the inbox until ACKed (that is how the ACK is counted);
    // the inbox key itself must not expire in the past, or its other entries would go too.
    const keepUntil = Math.max(m.exp, now + 60_000);
    const added = await Promise.all(stored.map((d) => inbox.add(d, m.id, keepUntil)));
    const drops: StateChange[] = [];
    added.forEach((r, i) => {
      for (const old of r.evicted) drops.push({ messageId: old, deviceId: stored[i]!, state: DeliveryState.DROPPED });
    });
    for (const d of stored) trace?.set(d, DeliveryState.PENDING);
    // The trace is written before any PUSH goes out, so an ACK always finds its entry.
    await messages.dispatched(m, { targeted: active.length + unknown.length, failed: unknown.length, dropped: active.length - stored.length }, trace);
    await messages.record(drops);

    // Routes are read after the inbox write: a device that comes online in between is
    // replayed from its inbox by its ONLINE report (session-reports.ts), so none is missed.
    const where = await routes.lookup(stored);
    stored.forEach((deviceId, i) => {
      const route = where[i];
      if (route) plan.put(route.gatewayId, { deviceId, sessionId: route.sessionId, frame: m.frame, messageId: m.id, expiresAt: m.exp });
    });
    this.deps.metrics.messagesDispatched.inc();
  }

  private async resolve(m: StoredMessage): Promise<{ active: string[]; unknown: string[] }> {
    const { redis, keys, bindings } = this.deps;
    const ids = m.target.kind === 'devices' ? [...new Set(m.target.ids)] : await bindings.resolve(m.target.kind, m.appId, m.target.ids);
    return activeDevicesOf(redis, keys, m.appId, ids);
  }
}
