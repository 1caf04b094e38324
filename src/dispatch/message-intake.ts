import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { PetrelError } from '../domain/errors.js';
import { expiryOf, newMessageId, type MessageTarget } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { FrameType, ProtocolError, type NotificationFields, type WireCodec } from '../protocol/index.js';
import type { RedisKeys } from '../store/keys.js';
import type { MessageStore, NewMessage } from '../store/message-store.js';
import { storage } from '../store/redis.js';
import { DeviceAppLookup } from './device-directory.js';
import type { SendJob } from './send-queue.js';
import type { StatsRecorder } from './stats-recorder.js';

/** A send request after schema validation (api/message-schema.ts, or DispatchService.send). */
export interface SendInput {
  to: MessageTarget;
  data?: unknown;
  notification?: NotificationFields;
  /** Seconds; the configured default when absent. */
  ttl?: number;
  /** Where this message's delivery receipts are POSTed (README, "Receipts"). */
  callbackUrl?: string;
}

export interface Accepted {
  id: string;
  /** Distinct targets named (devices, aliases or accounts). */
  accepted: number;
}

export interface IntakeLimits {
  defaultTtlSec: number;
  maxDataBytes: number;
  /** Accepted messages within this window share one MULTI and one send job. */
  batchMs: number;
}

interface Waiting {
  message: NewMessage;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Accepting a message: check it, encode its PUSH frame once, store it and queue its
 * dispatch. The promise resolves only when both the message and its send job are in
 * Redis (the API's 202 means durable). Messages accepted within a few milliseconds are
 * written in one transaction with one job: under load that is what lets one API process
 * accept thousands of requests per second with a handful of Redis round trips.
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
  ) {
    this.devices = new DeviceAppLookup(redis, keys);
  }

  async accept(appId: string, input: SendInput, now = Date.now()): Promise<Accepted> {
    const targets = [...new Set(input.to.ids)];
    const to: MessageTarget = { kind: input.to.kind, ids: targets };
    if (to.kind === 'devices') {
      const { unknown } = await storage(this.devices.activeDevicesOf(appId, targets));
      if (unknown.length > 0) throw new PetrelError('device_unknown', undefined, { details: { devices: unknown } });
    }
    if (input.data !== undefined && this.codec.sizeOf(input.data) > this.limits.maxDataBytes) {
      throw new PetrelError('data_too_large', `the encoded data is larger than ${this.limits.maxDataBytes} bytes`);
    }
    const id = newMessageId(now);
    const exp = expiryOf(now, input.ttl ?? this.limits.defaultTtlSec);
    let frame: Buffer;
    try {
      frame = this.codec.encode({ t: FrameType.PUSH, id, ts: now, exp, data: input.data, n: input.notification });
    } catch (err) {
      if (err instanceof ProtocolError) throw new PetrelError('payload_invalid', `the message cannot be sent to devices: ${err.message}`);
      throw err;
    }
    await new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new PetrelError('storage_unavailable', 'shutting down'));
      const message: NewMessage = { id, appId, target: to, ts: now, exp, frame, accepted: targets.length, ...(input.callbackUrl ? { callbackUrl: input.callbackUrl } : {}) };
      this.waiting.push({ message, resolve, reject });
      this.schedule();
    });
    this.metrics.messagesAccepted.inc();
    return { id, accepted: targets.length };
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
    const messages = batch.map((w) => w.message);
    try {
      await this.messages.create(messages);
      try {
        await this.queue.add('send', { ids: messages.map((m) => m.id) });
      } catch (err) {
        // Not acknowledged, so not kept: a message without a job would never be sent.
        await this.messages.discard(messages.map((m) => m.id)).catch(() => undefined);
        throw err;
      }
      for (const w of batch) {
        this.stats.count(w.message.appId, 'accepted', w.message.ts);
        w.resolve();
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message, messages: batch.length }, 'accepting messages failed');
      const failure = new PetrelError('storage_unavailable', undefined, { cause: err });
      for (const w of batch) w.reject(failure);
    }
  }

  /** Accepts nothing more; waits for what was accepted to be written. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushing;
    if (this.waiting.length > 0) await this.flush();
  }
}
