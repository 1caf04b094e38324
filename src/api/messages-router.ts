import { Router } from 'express';
import { PetrelError } from '../domain/errors.js';
import { MESSAGE_ID_PATTERN } from '../domain/message.js';
import type { MessageIntake } from '../dispatch/message-intake.js';
import { storage } from '../store/redis.js';
import type { MessageStore } from '../store/message-store.js';
import { messageBodySchema, toSendInput, type MessageBody, type MessageSchemaLimits } from './message-schema.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

/** POST /v1/messages (send) and GET /v1/messages/:id (trace). Mounted behind serverAuth. */
export function messagesRouter(intake: MessageIntake, messages: MessageStore, limits: MessageSchemaLimits): Router {
  const router = Router();
  const bodySchema = messageBodySchema(limits);

  router.post('/v1/messages', async (req, res) => {
    const body = validate(bodySchema, req.body);
    // The payload goes out as the app server wrote it, not as zod rebuilt it: zod copies
    // objects by assignment, which turns a "__proto__" key into a prototype and silently
    // drops it. From the raw JSON, the codec sees that key and refuses it (payload_invalid).
    const raw = req.body as Pick<MessageBody, 'data' | 'notification'>;
    const accepted = await intake.accept(appOf(res).id, toSendInput({ ...body, data: raw.data, notification: raw.notification }));
    res.status(202).location(`/v1/messages/${accepted.id}`).json(accepted);
  });

  router.get('/v1/messages/:id', async (req, res) => {
    const id = req.params['id'] ?? '';
    const trace = MESSAGE_ID_PATTERN.test(id) ? await storage(messages.trace(appOf(res).id, id)) : null;
    if (!trace) throw new PetrelError('message_not_found');
    res.json(trace);
  });

  return router;
}
