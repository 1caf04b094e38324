import type { Redis } from 'ioredis';
import { PetrelError } from '../domain/errors.js';
import { pipelineReplies, storage } from '../store/redis.js';
import type { RedisKeys } from '../store/keys.js';

/**
 * Which of a list of device ids are active devices of an app. A device of another app
 * counts as unknown: tenants cannot probe each other's ids.
 */
export async function activeDevicesOf(redis: Redis, keys: RedisKeys, appId: string, deviceIds: readonly string[]): Promise<DevicesOfApp> {
  return splitByApp(await deviceApps(redis, keys, deviceIds), appId, deviceIds);
}

/**
 * One device named by an app-server call: resolves if it is an active device of the app,
 * else device_not_found — also for another app's device, which must read as unknown.
 */
export async function requireActiveDevice(redis: Redis, keys: RedisKeys, appId: string, deviceId: string): Promise<void> {
  const { active } = await storage(activeDevicesOf(redis, keys, appId, [deviceId]));
  if (active.length === 0) throw new PetrelError('device_not_found');
}

export interface DevicesOfApp {
  active: string[];
  unknown: string[];
}

/** Splits ids into the app's active devices and the rest, given each active device's app. */
export function splitByApp(apps: ReadonlyMap<string, string>, appId: string, deviceIds: Iterable<string>): DevicesOfApp {
  const out: DevicesOfApp = { active: [], unknown: [] };
  for (const id of deviceIds) (apps.get(id) === appId ? out.active : out.unknown).push(id);
  return out;
}

/** The app of each active device (invalidated and unknown devices are absent), in one pipeline. */
export async function deviceApps(redis: Redis, keys: RedisKeys, deviceIds: readonly string[]): Promise<Map<string, string>> {
  const apps = new Map<string, string>();
  if (deviceIds.length === 0) return apps;
  const pipeline = redis.pipeline();
  for (const id of deviceIds) pipeline.hmget(keys.device(id), 'app', 'status');
  const replies = await pipelineReplies(pipeline, deviceIds.length);
  deviceIds.forEach((id, i) => {
    const [app, status] = replies[i] as Array<string | null>;
    if (app && status !== 'invalid') apps.set(id, app);
  });
  return apps;
}

/**
 * deviceApps for many callers at once: lookups asked for in one event-loop turn (the
 * API's concurrent requests) share one pipeline instead of paying a round trip each.
 */
export class DeviceAppLookup {
  private pending: Array<{ ids: readonly string[]; resolve(apps: Map<string, string>): void; reject(err: unknown): void }> = [];

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async activeDevicesOf(appId: string, deviceIds: readonly string[]): Promise<DevicesOfApp> {
    const apps = await new Promise<Map<string, string>>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ ids: deviceIds, resolve, reject });
    });
    return splitByApp(apps, appId, deviceIds);
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    deviceApps(this.redis, this.keys, [...new Set(batch.flatMap((b) => b.ids))]).then(
      (apps) => { for (const b of batch) b.resolve(apps); },
      (err: unknown) => { for (const b of batch) b.reject(err); },
    );
  }
}
