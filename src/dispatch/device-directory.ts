import type { Redis } from 'ioredis';
import type { RedisKeys } from '../store/keys.js';

/**
 * Which of a list of device ids are active devices of an app. A device of another app
 * counts as unknown: tenants cannot probe each other's ids.
 */
export async function activeDevicesOf(redis: Redis, keys: RedisKeys, appId: string, deviceIds: readonly string[]): Promise<{ active: string[]; unknown: string[] }> {
  const active: string[] = [];
  const unknown: string[] = [];
  if (deviceIds.length === 0) return { active, unknown };
  const pipeline = redis.pipeline();
  for (const id of deviceIds) pipeline.hmget(keys.device(id), 'app', 'status');
  const results = (await pipeline.exec()) ?? [];
  deviceIds.forEach((id, i) => {
    const [err, value] = results[i] ?? [new Error('pipeline discarded'), null];
    if (err) throw err;
    const [app, status] = value as Array<string | null>;
    if (app === appId && status !== 'invalid') active.push(id);
    else unknown.push(id);
  });
  return { active, unknown };
}
