import { Router, type Request, type RequestHandler } from 'express';
import { PetrelError } from '../domain/errors.js';
import { MESSAGE_ID_PATTERN } from '../domain/message.js';
import type { BroadcastRevocation } from '../dispatch/broadcast-revocation.js';
import type { MessageIntake } from '../dispatch/message-intake.js';
import type { IdempotencyStore } from '../store/idempotency-store.js';
import { storage } from '../store/redis.js';
import type { MessageStore, NewMessage } from '../store/message-store.js';
import { idempotent } from './idempotency.js';
import { batchBodySchema, messageBodySchema, toSendInput, type MessageBody, type MessageSchemaLimits } from './message-schema.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

export interface BatchItemResult {
  id?: string;
  accepted?: number;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

/** The two sending endpoints' handlers, which plain JSON requests reach without Express (send-lane.ts). */
export interface MessageSends {
  /** POST /v1/messages */
  send: RequestHandler;
  /** POST /v1/messages/batch */
  batch: RequestHandler;
}

/** The handlers of POST /v1/messages and POST /v1/messages/batch, behind serverAuth. */
export function messageSends(intake: MessageIntake, idempotency: IdempotencyStore, limits: MessageSchemaLimits): MessageSends {
  const bodySchema = messageBodySchema(limits);
  const batchSchema = batchBodySchema(limits);

  /** Validates and prepares one send; nothing is stored yet. */
  async function prepare(appId: string, raw: unknown): Promise<NewMessage> {
    const body = validate(bodySchema, raw);
    // The payload goes out as the app server wrote it, not as zod rebuilt it: zod copies
    // objects by assignment, which turns a "__proto__" key into a prototype and silently
    // drops it. From the raw JSON, the codec sees that key and refuses it (payload_invalid).
    return intake.prepare(appId, toSendInput(body, raw as Pick<MessageBody, 'data' | 'notification'>));
  }

  const send: RequestHandler = async (req, res) => {
    const app = appOf(res).id;
    await idempotent(req, res, app, idempotency, async (remember) => {
      const message = await prepare(app, req.body);
      const answer = { status: 202, body: { id: message.id, accepted: message.accepted }, location: `/v1/messages/${message.id}` };
      await intake.commit([message], remember(answer));
      return answer;
    });
  };

  const batch: RequestHandler = async (req: Request, res) => {
    const app = appOf(res).id;
    validate(batchSchema, req.body);
    // The items as sent, not zod's copies (see prepare): a "__proto__" key in an item is
    // then refused as an unknown field instead of vanishing.
    const items = (req.body as { messages: unknown[] }).messages;
    await idempotent(req, res, app, idempotency, async (remember) => {
      // An item's bad input is its own result; anything else (Redis down) fails the request.
      const prepared = await Promise.all(items.map((item) => prepare(app, item).catch((err: unknown) => {
        if (err instanceof PetrelError && err.status < 500) return err;
        throw err;
      })));
      const results: BatchItemResult[] = prepared.map((p) =>
        p instanceof PetrelError
          ? { error: { code: p.code, message: p.message, ...(p.details ? { details: p.details } : {}) } }
          : { id: p.id, accepted: p.accepted });
      const ok = prepared.filter((p): p is NewMessage => !(p instanceof PetrelError));
      const answer = { status: 202, body: { accepted: ok.length, refused: items.length - ok.length, results } };
      await intake.commit(ok, ok.length > 0 ? remember(answer) : undefined);
      return answer;
    });
  };

  return { send, batch };
}

/**
 * POST /v1/messages (send), POST /v1/messages/batch (many sends, a result each),
 * DELETE /v1/messages/:id (cancel), POST /v1/messages/:id/revoke (withdraw a broadcast) and
 * GET /v1/messages/:id (trace). Mounted behind serverAuth.
 */
export function messagesRouter(
  intake: MessageIntake,
  messages: MessageStore,
  idempotency: IdempotencyStore,
  limits: MessageSchemaLimits,
  revocation: BroadcastRevocation,
  sends: MessageSends = messageSends(intake, idempotency, limits),
): Router {
  const router = Router();
  router.post('/v1/messages', sends.send);
  router.post('/v1/messages/batch', sends.batch);

  router.delete('/v1/messages/:id', async (req, res) => {
    const id = req.params['id'] ?? '';
    const outcome = MESSAGE_ID_PATTERN.test(id) ? await intake.cancel(appOf(res).id, id) : 'not_found';
    if (outcome === 'not_found') throw new PetrelError('message_not_found');
    if (outcome === 'too_late') throw new PetrelError('message_not_cancellable');
    res.json({ id, state: 'cancelled' });
  });

  router.post('/v1/messages/:id/revoke', async (req, res) => {
    const id = req.params['id'] ?? '';
    if (!MESSAGE_ID_PATTERN.test(id)) throw new PetrelError('message_not_found');
    res.json({ id, ...(await revocation.revoke(appOf(res).id, id)) });
  });

  router.get('/v1/messages/:id', async (req, res) => {
    const id = req.params['id'] ?? '';
    const trace = MESSAGE_ID_PATTERN.test(id) ? await storage(messages.trace(appOf(res).id, id)) : null;
    if (!trace) throw new PetrelError('message_not_found');
    res.json(trace);
  });

  return router;
}
