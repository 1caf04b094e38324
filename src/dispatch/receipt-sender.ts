import type { Job } from 'bullmq';
import { RECEIPT_DELIVERY_HEADER, RECEIPT_SIGNATURE_HEADER, signReceipt } from '../domain/receipt-signature.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ReceiptDeadLetters } from '../store/receipt-dead-letters.js';
import type { ReceiptJob } from './receipt-queue.js';

/** Of a failed receiver's answer, only this much is read (into the dead letter's error). */
const MAX_ERROR_BODY_BYTES = 512;

/** One failed POST: what the dead letter records. */
export class ReceiptFailure extends Error {
  override readonly name = 'ReceiptFailure';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

export interface ReceiptSenderDeps {
  /** The app's signing key; null when the app is gone. */
  secretOf(appId: string): Promise<string | null>;
  deadLetters: ReceiptDeadLetters;
  timeoutMs: number;
  metrics: Metrics;
  log: Logger;
}

/**
 * POSTs one receipt batch (a BullMQ job) to its callback URL: signed JSON, one timeout
 * for the whole exchange, redirects not followed (a 3xx is a failure: the receiver must
 * name its final URL), at most a few hundred bytes of an error answer read. A failure is
 * thrown so BullMQ retries with backoff; before the last attempt's failure the batch is
 * put in its app's dead-letter list.
 */
export class ReceiptSender {
  constructor(private readonly deps: ReceiptSenderDeps) {}

  async run(job: Job<ReceiptJob>): Promise<void> {
    const { appId, url, events } = job.data;
    try {
      await this.post(appId, url, job.id ?? '', JSON.stringify({ events }));
      this.deps.metrics.receiptsSent.inc();
    } catch (err) {
      this.deps.metrics.receiptsFailed.inc();
      const failure = err instanceof ReceiptFailure ? err : new ReceiptFailure((err as Error).message);
      const attempts = job.attemptsMade + 1;
      if (attempts >= (job.opts.attempts ?? 1)) {
        await this.deps.deadLetters.add(appId, [{
          delivery: job.id ?? '', url, events, failedAt: Date.now(), attempts, error: failure.message,
          ...(failure.status === undefined ? {} : { status: failure.status }),
        }]);
        this.deps.metrics.receiptsDeadLettered.inc();
        this.deps.log.warn({ app: appId, delivery: job.id, attempts, err: failure.message }, 'receipt batch dead-lettered');
      }
      throw failure;
    }
  }

  private async post(appId: string, url: string, delivery: string, body: string): Promise<void> {
    const secret = await this.deps.secretOf(appId);
    if (secret === null) throw new ReceiptFailure('the app no longer exists');
    let res: Response;
    const signal = AbortSignal.timeout(this.deps.timeoutMs);
    try {
      res = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Petrel-Receipts/1',
          [RECEIPT_SIGNATURE_HEADER]: signReceipt(secret, body),
          [RECEIPT_DELIVERY_HEADER]: delivery,
        },
        body,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new ReceiptFailure(signal.aborted ? `no answer within ${this.deps.timeoutMs} ms` : `request failed: ${cause ?? (err as Error).message}`);
    }
    if (res.status >= 200 && res.status < 300) {
      await res.body?.cancel().catch(() => undefined);
      return;
    }
    const excerpt = await readCapped(res, MAX_ERROR_BODY_BYTES).catch(() => '');
    throw new ReceiptFailure(`answered ${res.status}${excerpt ? `: ${excerpt}` : ''}`, res.status);
  }
}

/** The start of a response body, without reading (or buffering) the rest of it. */
async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < maxBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}
