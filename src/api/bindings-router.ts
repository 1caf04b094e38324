import { Router, type Request } from 'express';
import { z } from 'zod';
import { ID_PATTERN } from '../domain/ids.js';
import { requireActiveDevice } from '../dispatch/device-directory.js';
import { storage } from '../store/redis.js';
import type { Redis } from 'ioredis';
import type { BindingKind, BindingStore } from '../store/binding-store.js';
import type { RedisKeys } from '../store/keys.js';
import { bindingName } from './message-schema.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

export const bindingParams = z.object({
  deviceId: z.string().regex(ID_PATTERN, 'not a device id'),
  kind: z.enum(['aliases', 'accounts']),
  name: bindingName.optional(),
});

/**
 * Aliases and accounts of a device, managed by the app server:
 * PUT / DELETE /v1/devices/{id}/aliases/{alias} (or accounts/{account}), GET …/aliases.
 * An alias names one device (binding it elsewhere moves it); an account names up to
 * `messages.maxDevicesPerAccount` devices of one user.
 */
export function bindingsRouter(redis: Redis, keys: RedisKeys, bindings: BindingStore): Router {
  const router = Router();

  async function target(req: Request, appId: string): Promise<{ deviceId: string; kind: BindingKind; name: string | undefined }> {
    const p = validate(bindingParams, req.params, 'query_invalid');
    await requireActiveDevice(redis, keys, appId, p.deviceId);
    return { deviceId: p.deviceId, kind: p.kind, name: p.name };
  }

  router.put('/v1/devices/:deviceId/:kind/:name', async (req, res) => {
    const app = appOf(res).id;
    const { deviceId, kind, name } = await target(req, app);
    await storage(bindings.bind(kind, app, deviceId, name!));
    res.status(204).end();
  });

  router.delete('/v1/devices/:deviceId/:kind/:name', async (req, res) => {
    const app = appOf(res).id;
    const { deviceId, kind, name } = await target(req, app);
    await storage(bindings.unbind(kind, app, deviceId, name!));
    res.status(204).end();
  });

  router.get('/v1/devices/:deviceId/:kind', async (req, res) => {
    const { deviceId, kind } = await target(req, appOf(res).id);
    res.json({ [kind]: await storage(bindings.namesOf(kind, deviceId)) });
  });

  return router;
}
