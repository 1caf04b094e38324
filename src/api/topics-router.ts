import { Router } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ID_PATTERN } from '../domain/ids.js';
import { isValidTopic, validTopic } from '../domain/topic.js';
import { activeDevicesOf } from '../dispatch/device-directory.js';
import type { SubscriptionStore } from '../dispatch/subscriptions.js';
import type { RedisKeys } from '../store/keys.js';
import { storage } from '../store/redis.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

/** Device ids one bulk subscription call may name, both lists together. */
export const BULK_SUBSCRIBERS_MAX = 1000;

export const topicListQuery = z.object({
  cursor: z.string().refine(isValidTopic, 'not a cursor from an earlier page').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const deviceIds = z.array(z.string().regex(ID_PATTERN, 'not a device id')).max(BULK_SUBSCRIBERS_MAX);

export const bulkSubscribersBody = z.strictObject({ subscribe: deviceIds.default([]), unsubscribe: deviceIds.default([]) })
  .refine((b) => b.subscribe.length + b.unsubscribe.length >= 1, 'name at least one device in subscribe or unsubscribe')
  .refine((b) => b.subscribe.length + b.unsubscribe.length <= BULK_SUBSCRIBERS_MAX, `at most ${BULK_SUBSCRIBERS_MAX} devices in one call`)
  .refine((b) => !b.subscribe.some((id) => b.unsubscribe.includes(id)), 'a device cannot be in both subscribe and unsubscribe');

/** Per device of a bulk call: done, or the error code that stopped it. */
type BulkResult = 'ok' | 'device_not_found' | 'topic_limit';

/**
 * An app's topics, from the app server's side: GET /v1/topics (names with subscriber
 * counts, a page at a time), GET /v1/topics/{topic}, and POST /v1/topics/{topic}/subscribers
 * to subscribe and unsubscribe many devices at once. Topics belong to one app: another
 * app's topic of the same name is a different topic, so it reads as empty here.
 */
export function topicsRouter(redis: Redis, keys: RedisKeys, subscriptions: SubscriptionStore): Router {
  const router = Router();

  router.get('/v1/topics', async (req, res) => {
    const q = validate(topicListQuery, req.query, 'query_invalid');
    const page = await storage(subscriptions.topics(appOf(res).id, q.cursor ?? null, q.limit));
    res.json(page);
  });

  router.get('/v1/topics/:topic', async (req, res) => {
    const topic = validTopic(req.params['topic'] ?? '');
    res.json({ topic, subscribers: await storage(subscriptions.subscriberCount(appOf(res).id, topic)) });
  });

  router.post('/v1/topics/:topic/subscribers', async (req, res) => {
    const topic = validTopic(req.params['topic'] ?? '');
    const body = validate(bulkSubscribersBody, req.body);
    const app = appOf(res).id;
    const answer = async (ids: string[], subscribe: boolean): Promise<Record<string, BulkResult>> => {
      const { active } = await activeDevicesOf(redis, keys, app, ids);
      const done = await subscriptions.changeDevices(app, topic, active, subscribe);
      // Object.fromEntries defines own properties: an id such as "__proto__" stays a plain key.
      return Object.fromEntries(ids.map((id) => [id, done.has(id) ? (done.get(id) ?? 'ok') : 'device_not_found']));
    };
    const [subscribed, unsubscribed] = await storage(Promise.all([answer(body.subscribe, true), answer(body.unsubscribe, false)]));
    res.json({ topic, subscribe: subscribed, unsubscribe: unsubscribed });
  });

  return router;
}
