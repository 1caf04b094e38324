import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { deriveDeviceSecret } from '../../src/domain/device-secret.js';
import { AppStore } from '../../src/store/app-store.js';
import { deletePrefix } from '../../src/store/delete-prefix.js';
import { DeviceStore } from '../../src/store/device-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import type { SwarmDevice } from './device-swarm.js';

export interface BenchTenant {
  redis: Redis;
  keys: RedisKeys;
  deviceKey: Buffer;
  appId: string;
  clientKey: string;
  serverSecret: string;
  devices: SwarmDevice[];
  /** Deletes every key the bench wrote. */
  cleanup(): Promise<void>;
}

export function benchRedisUrl(): string {
  const url = process.env['PETREL_BENCH_REDIS_URL'];
  if (!url) throw new Error('PETREL_BENCH_REDIS_URL is not set: run benchmarks with `npm run bench`');
  return url;
}

/**
 * An app with `count` registered devices, written straight to Redis through our own
 * stores (registration is not what these benches measure). Secrets are derived with the
 * same server key the bench's gateway gets, exactly as REGISTER would issue them.
 */
export async function provisionTenant(name: string, count: number): Promise<BenchTenant> {
  const redis = new Redis(benchRedisUrl(), { enableAutoPipelining: true });
  const keys = new RedisKeys(`bench:${name}:${randomBytes(4).toString('hex')}:`);
  const deviceKey = randomBytes(32);
  const { app, serverSecret } = await new AppStore(redis, keys).create(`bench ${name}`);
  const store = new DeviceStore(redis, keys);
  const devices: SwarmDevice[] = [];
  for (let i = 0; i < count; i += 2000) {
    const batch = await Promise.all(Array.from({ length: Math.min(2000, count - i) }, () => store.register(app.id, 'bench')));
    for (const d of batch) devices.push({ appId: app.id, dev: d.id, secret: deriveDeviceSecret(deviceKey, app.id, d.id, d.gen) });
  }
  return {
    redis,
    keys,
    deviceKey,
    appId: app.id,
    clientKey: app.clientKey,
    serverSecret,
    devices,
    async cleanup() {
      await deletePrefix(redis, keys.prefix);
      await redis.quit();
    },
  };
}
