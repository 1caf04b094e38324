import type { Redis } from 'ioredis';
import { DeliveryState, isBroadcast, type StoredMessage, type UnicastTarget } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { BindingStore } from '../store/binding-store.js';
import type { ExpirySchedule } from '../store/expiry-schedule.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { RedisKeys } from '../store/keys.js';
import type { FanOut, MessageStore, StateChange } from '../store/message-store.js';
import type { RouteStore } from '../store/route-store.js';
import type { Broadcast, Broadcaster } from './broadcaster.js';
import { type Courier, GatewayBatches } from './courier.js';
import { type DeliveryEvent, type DeliveryEvents, emitted } from './delivery-events.js';
import { deviceApps, splitByApp, type DevicesOfApp } from './device-directory.js';

export type UnicastMessage = StoredMessage & { readonly target: UnicastTarget };

/** A message's targets at dispatch: the app's active devices, the rest, and names bound to nothing. */
interface Targets extends DevicesOfApp {
  unbound: string[];
}

export interface DispatcherDeps {
  redis: Redis;
  keys: RedisKeys;
  messages: MessageStore;
  inbox: InboxStore;
  routes: RouteStore;
  bindings: BindingStore;
  courier: Courier;
  broadcaster: Broadcaster;
  events: DeliveryEvents;
  expiries: ExpirySchedule;
  /** A message's devices still without a terminal state are marked expired this long after its expiry. */
  expiryGraceMs: number;
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
    // Cancelled scheduled messages drop out here; the others can no longer be cancelled.
    const { messages: all, gone } = await this.deps.messages.loadForDispatch(messageIds);
    for (const id of gone) this.deps.log.warn({ id }, 'message of a send job is gone (trace retention passed?)');
    // Topic, condition and whole-app sends go through the app's log (read diffusion).
    const broadcasts = all.filter((m): m is Broadcast => isBroadcast(m.target));
    if (broadcasts.length > 0) await this.deps.broadcaster.dispatch(broadcasts);
    const unicast = all.filter((m): m is UnicastMessage => !isBroadcast(m.target));
    await this.dispatchUnicast(unicast);
    // The fan-out is complete. Should the API have died between queueing this job and
    // removing the messages' outbox entries, the outbox poll now only removes them
    // instead of fanning out again (send-outbox.ts). Best effort: without the mark the
    // worst is one more fan-out, which the SDK absorbs.
    await this.markPushed(unicast.map((m) => m.id));
  }

  /** Marks messages whose fan-out is complete (pushed_1); failures are logged, not thrown. */
  async markPushed(ids: readonly string[]): Promise<void> {
    await this.deps.messages.pushed(ids).catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message }, 'marking messages pushed failed'));
  }

  /**
   * The fan-out of unicast messages already loaded: a send job's after loadForDispatch, or
   * messages the intake has just stored (local-dispatch.ts), which are neither scheduled
   * nor cancellable and so need no claim. For device targets with a TTL there are three
   * round trips to Redis on the way to the first PUSH: the device lookup, the fan-out
   * record (the trace, and the message hash), then the inbox writes (which read the routes
   * too).
   */
  async dispatchUnicast(loaded: readonly UnicastMessage[]): Promise<void> {
    const { inbox, routes, messages } = this.deps;
    if (loaded.length === 0) return;
    // Each phase covers the whole job in one round trip or pipeline, not one per message.
    const targets = await this.resolve(loaded);
    const now = Date.now();
    const fanOuts: FanOut[] = [];
    const fanOutEvents = new Map<string, DeliveryEvent[]>();
    const adds: Array<{ message: StoredMessage; deviceId: string }> = [];
    for (const [i, m] of loaded.entries()) {
      const { active, unknown, unbound } = targets[i]!;
      const events = invalidTargets(m, unknown, unbound, now);
      const trace = active.length + unknown.length <= this.deps.traceDevices ? new Map<string, DeliveryState>() : null;
      for (const d of unknown) trace?.set(d, DeliveryState.FAILED);
      let stored = active;
      if (m.exp <= now) {
        // TTL 0 (deliver now or drop): only devices connected right now are kept at all.
        const found = await routes.lookup(active);
        stored = active.filter((_, j) => found[j] !== null);
        for (const d of active) {
          if (stored.includes(d)) continue;
          if (!trace?.has(d)) trace?.set(d, DeliveryState.DROPPED);
          events.push({ type: 'expired', appId: m.appId, messageId: m.id, deviceId: d, reason: 'ttl', at: now });
        }
      }
      fanOutEvents.set(m.id, events);
      for (const d of stored) {
        trace?.set(d, DeliveryState.PENDING);
        adds.push({ message: m, deviceId: d });
      }
      fanOuts.push({ message: m, counts: { targeted: active.length + unknown.length, failed: unknown.length, dropped: active.length - stored.length }, initial: trace });
    }
    // The fan-out record (counters and trace), the inbox writes and the expiry schedule of
    // traced messages with devices still to reach (expiry-sweep.ts) are all written before
    // any PUSH: an ACK always finds its inbox entry and trace.
    // The fan-out record first, on a round trip of its own: it makes the message hash of a
    // message accepted as an intake entry (store/intake-entry.ts), and a device that finds
    // the message in its inbox (a replay on reconnect, before this fan-out's own PUSH) may
    // ACK it at once, which counts only in an existing hash. Queued ahead of the inbox
    // writes in one pipeline would not be enough: a script Redis has not cached (NOSCRIPT,
    // after a restart or a deploy) is retried in a later batch, after the others ran.
    // Should it fail, nothing else is written and the job's retry starts clean.
    const { first, gone } = await messages.dispatched(fanOuts);
    for (const id of gone) this.deps.log.warn({ id }, 'message gone before its fan-out (trace retention passed?)');
    const writes = gone.size === 0 ? adds : adds.filter((a) => !gone.has(a.message.id));
    // Even a TTL 0 message sits in the inbox until ACKed (that is how the ACK is counted);
    // the inbox key itself must not expire in the past, or its other entries would go too.
    // Each inbox write settles on its own: what one of them evicted or replaced is recorded
    // even when another failed, since a retried fan-out does not evict or replace again.
    const [addOutcomes, [scheduled]] = await Promise.all([
      Promise.allSettled(writes.map((a) => inbox.add(a.deviceId, a.message.id, Math.max(a.message.exp, now + 60_000), a.message.collapseId))),
      Promise.allSettled([this.deps.expiries.schedule(fanOuts
        .filter((f) => !gone.has(f.message.id) && f.initial && [...f.initial.values()].includes(DeliveryState.PENDING))
        .map((f) => ({ messageId: f.message.id, dueAt: f.message.exp + this.deps.expiryGraceMs })))]),
    ]);
    // Evicted by the cap, replaced by a newer message with the same collapse id, or
    // superseded by one: dropped for that device.
    const drops: StateChange[] = [];
    const superseded: StateChange[] = [];
    const added = addOutcomes.map((o) => (o.status === 'fulfilled' ? o.value : null));
    added.forEach((r, i) => {
      if (!r) return;
      const { deviceId, message } = writes[i]!;
      for (const old of r.evicted) drops.push({ messageId: old, deviceId, state: DeliveryState.DROPPED });
      if (r.replaced) drops.push({ messageId: r.replaced, deviceId, state: DeliveryState.DROPPED, reason: 'replaced' });
      if (r.superseded) superseded.push({ messageId: message.id, deviceId, state: DeliveryState.DROPPED, reason: 'replaced' });
    });
    // Settled, not all: when one part fails, the events of what did commit are still
    // emitted (a retried job finds the fan-out recorded and emits none).
    const [dropped] = await Promise.allSettled([messages.record(drops)]);
    if (dropped.status === 'fulfilled') this.deps.events.counted(dropped.value);
    // A re-run job (its dispatcher died) fans out again but emits its events only once.
    for (const m of loaded) if (first.has(m.id)) this.deps.events.emit((fanOutEvents.get(m.id) ?? []).map((e) => emitted(e, m.callbackUrl)));
    const failedAdd = addOutcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failedAdd) throw failedAdd.reason;
    for (const outcome of [scheduled!, dropped]) if (outcome.status === 'rejected') throw outcome.reason;
    // After the fan-out record, whose counters it adds to: messages of this very job.
    // Nothing to write in the usual case (no collapse id): no round trip then.
    this.deps.events.counted(await messages.record(superseded.filter((c) => first.has(c.messageId))));

    // Each inbox write read the device's route after writing (inbox-store.ts): a device
    // that comes online later is replayed from its inbox by its ONLINE report, so none is
    // missed. A message replaced by a newer one of the same job is not pushed either.
    const plan = new GatewayBatches();
    const replacedHere = new Set(added.flatMap((r, i) => (r?.replaced ? [`${writes[i]!.deviceId} ${r.replaced}`] : [])));
    writes.forEach(({ message: m, deviceId }, i) => {
      const { route, superseded: late } = added[i]!;
      if (route && !late && !replacedHere.has(`${deviceId} ${m.id}`)) plan.put(route.gatewayId, { deviceId, sessionId: route.sessionId, frame: m.frame, messageId: m.id, expiresAt: m.exp });
    });
    this.deps.metrics.messagesDispatched.inc(loaded.length);
    await this.deps.courier.send(plan);
  }

  /** Devices of each message, split into active ones of its app and the rest; one device lookup for the job. */
  private async resolve(loaded: readonly UnicastMessage[]): Promise<Targets[]> {
    const { redis, keys, bindings } = this.deps;
    const perMessage = await Promise.all(
      loaded.map((m) => (m.target.kind === 'devices' ? { devices: [...new Set(m.target.ids)], unbound: [] } : bindings.resolve(m.target.kind, m.appId, m.target.ids))),
    );
    const all = [...new Set(perMessage.flatMap((r) => r.devices))];
    const apps = await deviceApps(redis, keys, all);
    return loaded.map((m, i) => ({ ...splitByApp(apps, m.appId, perMessage[i]!.devices), unbound: perMessage[i]!.unbound }));
  }
}

/** `invalid_target` events of a fan-out: devices unknown or invalid by now, names bound to no device. */
function invalidTargets(m: UnicastMessage, unknown: readonly string[], unbound: readonly string[], at: number): DeliveryEvent[] {
  const base = { type: 'invalid_target' as const, appId: m.appId, messageId: m.id, at };
  const name = m.target.kind === 'accounts' ? 'account' : 'alias';
  return [...unknown.map((deviceId) => ({ ...base, deviceId })), ...unbound.map((n) => ({ ...base, [name]: n }))];
}
