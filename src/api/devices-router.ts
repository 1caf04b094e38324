import { Router, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { PetrelError } from '../domain/errors.js';
import { ID_PATTERN } from '../domain/ids.js';
import { requireActiveDevice } from '../dispatch/device-directory.js';
import type { DeviceInvalidation } from '../dispatch/device-invalidation.js';
import type { SubscriptionStore } from '../dispatch/subscriptions.js';
import type { BindingStore } from '../store/binding-store.js';
import type { DeviceStore } from '../store/device-store.js';
import type { RedisKeys } from '../store/keys.js';
import { storage } from '../store/redis.js';
import type { RouteStore } from '../store/route-store.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

/** Names of each kind a device info answer lists at most (aliases and accounts have no cap of their own). */
export const DEVICE_INFO_LIST_CAP = 100;

export const deviceParam = z.object({ deviceId: z.string().regex(ID_PATTERN, 'not a device id') });

export interface DevicesRouterDeps {
  redis: Redis;
  keys: RedisKeys;
  devices: DeviceStore;
  routes: RouteStore;
  /** Ids of the gateways listed live in the registry now (cached briefly by the caller). */
  liveGateways(): Promise<ReadonlySet<string>>;
  bindings: BindingStore;
  subscriptions: SubscriptionStore;
  invalidation: DeviceInvalidation;
}

/**
 * One device, seen and managed by its app server: GET /v1/devices/{id} (record,
 * presence, names, topics), POST /v1/devices/{id}/invalidate, and server-side topic
 * subscriptions PUT / DELETE /v1/devices/{id}/topics/{topic}, GET …/topics. Another
 * app's device answers exactly as a device that does not exist: 404 device_not_found.
 * Mounted before the bindings router, whose `/:kind` routes would take `topics` too.
 */
export function devicesRouter(deps: DevicesRouterDeps): Router {
  const router = Router();

  /** The device id of the path, if it is an active device of the app (else 404). */
  async function activeDevice(req: Request, res: Response): Promise<string> {
    const { deviceId } = validate(deviceParam, req.params, 'query_invalid');
    await requireActiveDevice(deps.redis, deps.keys, appOf(res).id, deviceId);
    return deviceId;
  }

  router.get('/v1/devices/:deviceId', async (req, res) => {
    const { deviceId } = validate(deviceParam, req.params, 'query_invalid');
    const device = await storage(deps.devices.get(deviceId));
    if (!device || device.appId !== appOf(res).id) throw new PetrelError('device_not_found');
    const cap = DEVICE_INFO_LIST_CAP + 1;
    const [[route], live, aliases, accounts, topics] = await storage(Promise.all([
      deps.routes.lookup([deviceId]),
      deps.liveGateways(),
      deps.bindings.namesOf('aliases', deviceId, cap),
      deps.bindings.namesOf('accounts', deviceId, cap),
      deps.subscriptions.topicsOf(deviceId, cap),
    ]));
    // A route naming a gateway that is no longer listed is a leftover of a gateway that
    // died without reporting its sessions' end: the device is not reachable there.
    const online = Boolean(route && live.has(route.gatewayId));
    const lists = { aliases, accounts, topics };
    const truncated = Object.entries(lists).filter(([, names]) => names.length > DEVICE_INFO_LIST_CAP).map(([kind]) => kind);
    res.json({
      id: device.id,
      status: device.status,
      createdAt: device.createdAt,
      pkg: device.pkg,
      online,
      ...(online && route?.since !== undefined ? { connectedSince: route.since } : {}),
      aliases: aliases.slice(0, DEVICE_INFO_LIST_CAP),
      accounts: accounts.slice(0, DEVICE_INFO_LIST_CAP),
      topics: topics.slice(0, DEVICE_INFO_LIST_CAP),
      ...(truncated.length > 0 ? { truncated } : {}),
    });
  });

  // POST, not DELETE: the device record stays (marked invalid) and answers GET with
  // status "invalid"; what goes is its credentials, names, topics and inbox.
  router.post('/v1/devices/:deviceId/invalidate', async (req, res) => {
    const { deviceId } = validate(deviceParam, req.params, 'query_invalid');
    if (!(await storage(deps.invalidation.invalidate(appOf(res).id, deviceId)))) throw new PetrelError('device_not_found');
    res.status(204).end();
  });

  router.put('/v1/devices/:deviceId/topics/:topic', async (req, res) => {
    const deviceId = await activeDevice(req, res);
    await storage(deps.subscriptions.change(appOf(res).id, deviceId, [req.params['topic'] ?? ''], true));
    res.status(204).end();
  });

  router.delete('/v1/devices/:deviceId/topics/:topic', async (req, res) => {
    const deviceId = await activeDevice(req, res);
    await storage(deps.subscriptions.change(appOf(res).id, deviceId, [req.params['topic'] ?? ''], false));
    res.status(204).end();
  });

  router.get('/v1/devices/:deviceId/topics', async (req, res) => {
    const deviceId = await activeDevice(req, res);
    res.json({ topics: await storage(deps.subscriptions.topicsOf(deviceId)) });
  });

  return router;
}
