import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { PetrelError } from '../domain/errors.js';
import type { IdempotencyStore } from '../store/idempotency-store.js';
import type { TransactionWrite } from '../store/message-store.js';
import { storage } from '../store/redis.js';

/** Printable ASCII, like the keys Stripe and the IETF Idempotency-Key draft describe. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export interface Answer {
  status: number;
  body: unknown;
  location?: string;
}

/**
 * Runs a sending request under its `Idempotency-Key` header, if it has one. The same key
 * with the same body within 24 h answers what the first request answered and stores
 * nothing; with another body → 409 `idempotency_conflict`; while the first is still
 * running → 409 `idempotency_in_progress`. `handle` gets `remember(answer)`: the write
 * to commit together with the messages, so the answer is on record exactly when they are.
 * A request refused before storing anything leaves no record: it can be retried fixed.
 */
export async function idempotent(
  req: Request,
  res: Response,
  appId: string,
  store: IdempotencyStore,
  handle: (remember: (answer: Answer) => TransactionWrite | undefined) => Promise<Answer>,
): Promise<void> {
  const key = req.get('idempotency-key');
  if (key === undefined) return send(res, await handle(() => undefined));
  if (!KEY_PATTERN.test(key)) throw new PetrelError('idempotency_key_invalid');
  const fp = createHash('sha256').update(`${req.method} ${req.path}\n${JSON.stringify(req.body)}`).digest('hex');
  const claim = await storage(store.claim(appId, key, fp));
  if ('earlier' in claim) {
    const { earlier } = claim;
    if (earlier.fp !== fp) throw new PetrelError('idempotency_conflict');
    if (earlier.state === 'pending') throw new PetrelError('idempotency_in_progress');
    res.set('Idempotent-Replayed', 'true');
    return send(res, earlier);
  }
  // Held while the request runs, so a slow one keeps its key, and only that long: if this
  // process dies, the app's retry finds the key free within one claim lifetime.
  const renewal = setInterval(() => {
    claim.claimed.renew().catch(() => undefined);
  }, claim.claimed.renewEveryMs);
  let remembered = false;
  try {
    const answer = await handle((a) => {
      remembered = true;
      return store.answerWrite(appId, key, fp, a, claim.claimed);
    });
    // Nothing was stored (a batch whose every item was refused): nothing to remember.
    if (!remembered) await storage(claim.claimed.release());
    send(res, answer);
  } catch (err) {
    await claim.claimed.release().catch(() => undefined);
    throw err;
  } finally {
    clearInterval(renewal);
  }
}

/**
 * Node's own response calls, not res.status().json(): for a send's small answer Express's
 * checks and header helpers were ~4 % of a single send's CPU. Headers set before (rate
 * limit, Idempotent-Replayed) stay.
 */
function send(res: Response, answer: Answer): void {
  const body = JSON.stringify(answer.body);
  res.statusCode = answer.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  // Our own path of a ULID id: nothing to encode.
  if (answer.location) res.setHeader('Location', answer.location);
  res.end(body);
}
