import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { PetrelError } from '../domain/errors.js';
import { canonicalBroadcast } from '../domain/audience.js';
import { expiryOf, isBroadcast, newMessageId, type MessagePriority, type MessageTarget } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { FrameType, ProtocolError, type NotificationFields, type WireCodec } from '../protocol/index.js';
import type { RedisKeys } from '../store/keys.js';
import type { MessageStore, NewMessage, TransactionWrite } from '../store/message-store.js';
import { storage } from '../store/redis.js';
import { DeviceAppLookup } from './device-directory.js';
import type { DispatchHandoff } from './local-dispatch.js';
import { scheduledJobId, sendJobs, type SendJob } from './send-queue.js';
import type { StatsRecorder } from './stats-recorder.js';

/** A send request after schema validation (api/message-schema.ts, or DispatchService.send). */
export interface SendInput {
  to: MessageTarget;
  data?: unknown;
  notification?: NotificationFields;
  /** Seconds, counted from the send time; the configured default when absent. */
  ttl?: number;
  collapseId?: string;
  priority?: MessagePriority;
  /** Dispatch at this time (unix ms) instead of now. */
  sendAt?: number;
  /** Where this message's delivery receipts are POSTed (README, "Receipts"). */
  callbackUrl?: string;
  /** Campaign messages: PUSH `cid`, and the campaign's statistics count their events. */
  campaignId?: string;
  /** Campaign chunks: the message id is chosen by the caller (deterministic, so a repeated chunk is the same message). */
  id?: string;
  /** Campaign chunks: devices are not checked here; unknown ones count as failed at dispatch. */
  unchecked?: boolean;
}

export interface Accepted {
  id: string;
  /** Distinct targets named (devices, aliases or accounts); 1 for a topic, condition or the whole app. */
  accepted: number;
}

export interface IntakeLimits {
  defaultTtlSec: number;
  maxDataBytes: number;
  /** Accepted messages within this window share one write (messages_create_n) and one send job. */
  batchMs: number;
  /** How far ahead `sendAt` may be. */
  maxScheduleSec: number;
}

/** A `sendAt` this little in the past is clock skew: sent at once, not refused. */
const SEND_AT_SKEW_MS = 60_000;

interface Waiting {
  messages: readonly NewMessage[];
  alongside: TransactionWrite | undefined;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Accepting a message: check it, encode its PUSH frame once, store it and queue its
 * dispatch. The promise resolves once the message and its send-outbox entry are in
 * Redis (the API's 202 means durable); its send job is added right after, or a
 * dispatcher in this process takes it at once (local-dispatch.ts). Messages accepted
 * within a few milliseconds are written in one script call with one job: under load that
 * is what lets one API process accept thousands of requests per second with a handful
 * of Redis round trips.
 */
export class MessageIntake {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly devices: DeviceAppLookup;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly messages: MessageStore,
    private readonly queue: Queue<SendJob>,
    private readonly codec: WireCodec,
    private readonly limits: IntakeLimits,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly stats: StatsRecorder,
    /** A dispatcher in this process that takes messages at once (local-dispatch.ts); asked per batch, as it may start after the intake. */
    private readonly handoff: () => DispatchHandoff | undefined = () => undefined,
  ) {
    this.devices = new DeviceAppLookup(redis, keys);
  }

  async accept(appId: string, input: SendInput, now = Date.now()): Promise<Accepted> {
    const message = await this.prepare(appId, input, now);
    await this.commit([message]);
    return { id: message.id, accepted: message.accepted };
  }

  /**
   * Checks a send and encodes its PUSH frame, without storing anything: bad input fails
   * here with its error code. `commit` makes prepared messages durable.
   */
  async prepare(appId: string, input: SendInput, now = Date.now()): Promise<NewMessage> {
    let to: MessageTarget;
    let accepted = 1;
    if (isBroadcast(input.to)) {
      // Receipts are per device: for an audience of millions they would be a flood.
      if (input.callbackUrl !== undefined) throw new PetrelError('callback_unsupported');
      to = canonicalBroadcast(input.to);
    } else {
      const targets = [...new Set(input.to.ids)];
      to = { kind: input.to.kind, ids: targets };
      accepted = targets.length;
      if (to.kind === 'devices' && !input.unchecked) {
        const { unknown } = await storage(this.devices.activeDevicesOf(appId, targets));
        if (unknown.length > 0) throw new PetrelError('device_unknown', undefined, { details: { devices: unknown } });
      }
    }
    if (input.data !== undefined && this.codec.sizeOf(input.data) > this.limits.maxDataBytes) {
      throw new PetrelError('data_too_large', `the encoded data is larger than ${this.limits.maxDataBytes} bytes`);
    }
    const sendAt = this.sendTimeOf(input.sendAt, now);
    const id = input.id ?? newMessageId(now);
    const exp = expiryOf(sendAt ?? now, input.ttl ?? this.limits.defaultTtlSec);
    let frame: Buffer;
    try {
      frame = this.codec.encode({ t: FrameType.PUSH, id, ts: now, exp, data: input.data, n: input.notification, ...(input.campaignId ? { cid: input.campaignId } : {}) });
    } catch (err) {
      if (err instanceof ProtocolError) throw new PetrelError('payload_invalid', `the message cannot be sent to devices: ${err.message}`);
      throw err;
    }
    return {
      id, appId, target: to, ts: now, exp, frame, accepted,
      ...(input.callbackUrl === undefined ? {} : { callbackUrl: input.callbackUrl }),
      ...(input.collapseId === undefined ? {} : { collapseId: input.collapseId }),
      ...(input.priority === undefined ? {} : { priority: input.priority }),
      ...(sendAt === undefined ? {} : { sendAt }),
      ...(input.campaignId === undefined ? {} : { campaignId: input.campaignId }),
    };
  }

  /** A future send time, or undefined for "now"; out of range → send_at_invalid. */
  private sendTimeOf(sendAt: number | undefined, now: number): number | undefined {
    if (sendAt === undefined || sendAt <= now) {
      if (sendAt !== undefined && sendAt < now - SEND_AT_SKEW_MS) throw new PetrelError('send_at_invalid', 'sendAt is in the past');
      return undefined;
    }
    if (sendAt > now + this.limits.maxScheduleSec * 1000) {
      throw new PetrelError('send_at_invalid', `sendAt may be at most ${this.limits.maxScheduleSec} seconds ahead`);
    }
    return sendAt;
  }

  /**
   * Cancels a scheduled message of this app whose time has not come. The message hash
   * decides (cancel_2 against a dispatcher's start_dispatch_1), so a message is either
   * cancelled or sent, never both; removing its delayed job afterwards is only cleanup.
   */
  async cancel(appId: string, messageId: string): Promise<'cancelled' | 'not_found' | 'too_late'> {
    const outcome = await storage(this.messages.cancel(appId, messageId));
    if (outcome === 'cancelled') await this.queue.remove(scheduledJobId(messageId)).catch(() => undefined);
    return outcome;
  }

  /**
   * Stores prepared messages and queues their dispatch; resolves once they are durable.
   * `alongside` adds writes that must commit in the same transaction as the messages
   * (the idempotency record of the request that carried them).
   */
  async commit(messages: readonly NewMessage[], alongside?: TransactionWrite): Promise<void> {
    if (messages.length === 0) return;
    await new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new PetrelError('storage_unavailable', 'shutting down'));
      this.waiting.push({ messages, alongside, resolve, reject });
      this.schedule();
    });
    this.metrics.messagesAccepted.inc(messages.length);
  }

  /**
   * One write in flight at a time: what arrives meanwhile waits for it and goes in the
   * next batch. Under load batches (and so send jobs) grow by themselves, which is what
   * keeps BullMQ's per-job cost from growing with the request rate.
   */
  private schedule(): void {
    if (this.timer || this.flushing || this.closed || this.waiting.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        this.schedule();
      });
    }, this.limits.batchMs);
  }

  private async flush(): Promise<void> {
    if (this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    const messages = batch.flatMap((w) => w.messages);
    const guarded = batch.filter((w) => w.alongside !== undefined);
    let lost: number[];
    try {
      lost = await this.messages.create(messages, guarded.map((w) => w.alongside!));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, messages: batch.length }, 'accepting messages failed');
      const failure = new PetrelError('storage_unavailable', undefined, { cause: err });
      for (const w of batch) w.reject(failure);
      return;
    }
    if (lost.length > 0) {
      // Nothing was stored. The requests whose Idempotency-Key claim lapsed are refused
      // (their retry finds the key free, or another request's answer); the rest of the
      // batch goes again, first in line. Each such flush removes at least one request.
      const refused = new Set(lost.map((i) => guarded[i]).filter((w) => w !== undefined));
      if (refused.size !== lost.length) {
        const failure = new PetrelError('internal', `messages_create_n named writes outside the batch: ${lost.join(',')}`);
        for (const w of batch) w.reject(failure);
        return;
      }
      this.log.warn({ requests: refused.size }, 'idempotency claims lapsed before their messages were stored');
      for (const w of refused) w.reject(new PetrelError('idempotency_in_progress', 'this request\'s Idempotency-Key claim lapsed before its messages were stored (the API was stalled); retry'));
      this.waiting = [...batch.filter((w) => !refused.has(w)), ...this.waiting];
      return;
    }
    // Stored with an outbox entry: from here the message will be sent, whatever fails
    // next — a dispatcher re-queues what the outbox still holds (send-outbox.ts). So the
    // request is answered now, not after the queue write.
    for (const m of messages) this.stats.count(m.appId, 'accepted', m.ts);
    for (const w of batch) w.resolve();
    const queued = this.handoff()?.take(messages) ?? messages;
    if (queued.length === 0) return;
    try {
      await this.queue.addBulk(sendJobs(queued));
      await this.messages.queued(queued.map((m) => m.id));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, messages: queued.length }, 'queueing send jobs failed; the outbox re-queues them');
    }
  }

  /** Accepts nothing more; waits for what was accepted to be written. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushing;
    // More than once when a flush puts requests back (a lapsed idempotency claim).
    while (this.waiting.length > 0) await this.flush();
  }
}

