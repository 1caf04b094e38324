import { FrameType, type SubFrame, type UnsubFrame } from '../../src/protocol/index.js';
import { PetrelError } from './errors.js';

type RequestFrame = SubFrame | UnsubFrame;
type RequestKind = RequestFrame['t'];

/** Where requests go while connected: the authenticated session. */
export interface RequestSender {
  /** Writes the frame; may throw if it cannot be encoded. The result is not used. */
  send(frame: RequestFrame): unknown;
}

interface PendingRequest {
  readonly kind: RequestKind;
  readonly topics: string[];
  readonly resolve: () => void;
  readonly reject: (err: PetrelError) => void;
  readonly timer: NodeJS.Timeout;
  /** rid on the current connection; null while waiting to be (re)sent. */
  rid: number | null;
}

/**
 * SUB / UNSUB requests and their SUBACKs (docs/protocol.md, frames 9-11).
 *
 * Requests outlive connections: made while disconnected, they wait for the next WELCOME;
 * in flight when a connection drops, they are RETRIED on the next one (with a fresh rid,
 * since rids count per connection). Retrying is safe because SUB and UNSUB are set
 * operations: applying one twice is the same as once. Requests are sent in call order, so
 * "subscribe a, then unsubscribe a" keeps its meaning across a retry. Each request still
 * fails after requestTimeoutMs counted from the call, connected or not.
 */
export class SubscriptionRequests {
  private readonly pending: PendingRequest[] = [];
  private nextRid = 1;
  private sender: RequestSender | null = null;

  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    return this.pending.length;
  }

  request(kind: RequestKind, topics: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(request);
        reject(new PetrelError('request_timeout', `${kind === FrameType.SUB ? 'subscribe' : 'unsubscribe'} got no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const request: PendingRequest = { kind, topics: [...topics], resolve, reject, timer, rid: null };
      this.pending.push(request);
      if (this.sender !== null) this.transmit(request, this.sender);
    });
  }

  /** A connection is authenticated: rids restart at 1 and everything waiting is sent. */
  attach(sender: RequestSender): void {
    this.sender = sender;
    this.nextRid = 1;
    if (this.pending.length === 0) return;
    for (const request of this.pending.slice()) this.transmit(request, sender);
  }

  /** The connection ended: in-flight requests go back to waiting, in their original order. */
  detach(): void {
    this.sender = null;
    for (const request of this.pending) request.rid = null;
  }

  /** SUBACK. Returns false when no request has this rid (late answer to a timed-out one). */
  settle(rid: number | string, ok: boolean, err: string | undefined): boolean {
    const request = this.take(rid);
    if (request === undefined) return false;
    if (ok) request.resolve();
    else request.reject(new PetrelError('subscription_rejected', `gateway rejected the request: ${err ?? 'no reason given'}`, err === undefined ? {} : { err }));
    return true;
  }

  /** ERROR frame carrying a rid. Returns false when no request has it. */
  fail(rid: number | string, code: string, msg: string): boolean {
    const request = this.take(rid);
    if (request === undefined) return false;
    request.reject(new PetrelError('request_failed', msg, { err: code }));
    return true;
  }

  /** Rejects everything (client closed or stopped). */
  rejectAll(error: PetrelError): void {
    for (const request of this.pending.splice(0)) {
      clearTimeout(request.timer);
      request.reject(error);
    }
  }

  private transmit(request: PendingRequest, sender: RequestSender): void {
    const rid = this.nextRid++;
    request.rid = rid;
    try {
      sender.send({ t: request.kind, rid, topics: request.topics });
    } catch (err) {
      // The only synchronous failure is an encoding one (frame over maxFrame): retrying
      // cannot help, so the caller learns now.
      this.remove(request);
      request.reject(new PetrelError('invalid_argument', 'request cannot be encoded (too many or too long topics)', { cause: err }));
    }
  }

  private take(rid: number | string): PendingRequest | undefined {
    const request = this.pending.find((r) => r.rid !== null && r.rid === rid);
    if (request !== undefined) this.remove(request);
    return request;
  }

  private remove(request: PendingRequest): void {
    clearTimeout(request.timer);
    const i = this.pending.indexOf(request);
    if (i >= 0) this.pending.splice(i, 1);
  }
}
