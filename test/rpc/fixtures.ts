// Handlers for the RPC tests: a GatewayService and a DispatchService whose answers each
// test chooses, recording what they were called with.

import {
  DeliverResult,
  DispatchService,
  GatewayService,
  GatewayStats,
  PublishResult,
  ReportResult,
  SendResult,
  SubscriptionOutcome,
  type Delivery,
  type LogEntry,
  type ReportBatch,
  type SendRequest,
} from '../../src/rpc/gen/index.js';

export class FakeGateway implements GatewayService.IHandler {
  readonly delivered: Delivery[][] = [];
  /** Replaces deliver's answer (throw, never settle, …). */
  onDeliver: ((batch: Delivery[]) => DeliverResult | Promise<DeliverResult>) | null = null;
  onKick: (() => boolean) | null = null;

  deliver(batch: Delivery[]): DeliverResult | Promise<DeliverResult> {
    this.delivered.push(batch);
    if (this.onDeliver) return this.onDeliver(batch);
    return new DeliverResult({ notConnected: batch.filter((d) => d.session === 'gone').map((d) => d.device) });
  }

  publish(entry: LogEntry): PublishResult {
    return new PublishResult({ sent: entry.frame.length });
  }

  kick(): boolean {
    return this.onKick ? this.onKick() : true;
  }

  changeTopics(): boolean {
    return true;
  }

  setTopics(): boolean {
    return true;
  }

  revoke(): number {
    return 0;
  }

  drain(): void {}

  stats(): GatewayStats {
    return new GatewayStats({ id: 'gw-1', connections: 3, sessions: 2, draining: false });
  }
}

export class FakeDispatch implements DispatchService.IHandler {
  readonly reports: ReportBatch[] = [];
  readonly sends: SendRequest[] = [];
  onSend: ((request: SendRequest) => SendResult) | null = null;

  report(batch: ReportBatch): ReportResult {
    this.reports.push(batch);
    return new ReportResult({
      subscriptions: batch.subscriptions.map(
        (s) => new SubscriptionOutcome({ ref: s.ref, error: s.topics.includes('bad topic') ? 'topic_invalid' : '' }),
      ),
    });
  }

  send(request: SendRequest): SendResult {
    this.sends.push(request);
    if (this.onSend) return this.onSend(request);
    return new SendResult({ id: 'msg-1', accepted: request.devices?.length ?? 0 });
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The rejection of `promise` (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
