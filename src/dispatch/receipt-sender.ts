import type { Job } from 'bullmq';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { RECEIPT_DELIVERY_HEADER, RECEIPT_SIGNATURE_HEADER, signReceipt } from '../domain/receipt-signature.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ReceiptDeadLetters } from '../store/receipt-dead-letters.js';
import { isPrivateAddress, publicOnlyLookup } from './callback-address.js';
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
  /** Whether callback URLs may reach private and loopback addresses (callback-address.ts). */
  allowPrivateAddresses: boolean;
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
      if (attempts < (job.opts.attempts ?? 1)) {
        this.deps.log.info({ app: appId, delivery: job.id, attempts, err: failure.message }, 'receipt POST failed; retried with backoff');
      } else {
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
    const target = new URL(url);
    // A literal IP never goes through the lookup, so it is checked here.
    const host = target.hostname.replace(/^\[|\]$/g, '');
    if (!this.deps.allowPrivateAddresses && isIP(host) !== 0 && isPrivateAddress(host)) {
      throw new ReceiptFailure(`refused: ${host} is a private address (receipts.allowPrivateAddresses)`);
    }
    const { status, excerpt } = await postOnce(target, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'Petrel-Receipts/1',
      [RECEIPT_SIGNATURE_HEADER]: signReceipt(secret, body),
      [RECEIPT_DELIVERY_HEADER]: delivery,
    }, body, this.deps.timeoutMs, this.deps.allowPrivateAddresses ? undefined : publicOnlyLookup);
    if (status < 200 || status >= 300) throw new ReceiptFailure(`answered ${status}${excerpt ? `: ${excerpt}` : ''}`, status);
  }
}

/**
 * One POST with one deadline for the whole exchange. node:http rather than fetch: it takes
 * a `lookup` (the private-address check on the address connected to) and never follows
 * redirects. A 2xx answer's body is not read; of another, at most MAX_ERROR_BODY_BYTES.
 */
function postOnce(url: URL, headers: Record<string, string>, body: string, timeoutMs: number, lookup: LookupFunction | undefined): Promise<{ status: number; excerpt: string }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'POST', headers, agent: false, ...(lookup ? { lookup } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        finish();
        res.destroy();
        return resolve({ status, excerpt: '' });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        finish();
        res.destroy();
        resolve({ status, excerpt: Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8') });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_ERROR_BODY_BYTES) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    const timer = setTimeout(() => req.destroy(new ReceiptFailure(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = () => clearTimeout(timer);
    req.on('error', (err: Error & { code?: string }) => {
      finish();
      reject(err instanceof ReceiptFailure ? err : new ReceiptFailure(`request failed: ${err.code === 'EPRIVATE' ? err.message : (err.code ?? err.message)}`));
    });
    req.end(body);
  });
}
