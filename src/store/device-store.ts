import type { Redis } from 'ioredis';
import type { Device } from '../domain/app.js';
import { newDeviceId } from '../domain/ids.js';
import type { RedisKeys } from './keys.js';

/** Registered devices and the HELLO nonce replay cache. */
export class DeviceStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async register(appId: string, pkg: string): Promise<Device> {
    const device: Device = { id: newDeviceId(), appId, gen: 1, status: 'active', pkg, createdAt: Date.now() };
    await this.redis.hset(this.keys.device(device.id), {
      app: device.appId,
      gen: device.gen,
      status: device.status,
      pkg: device.pkg,
      createdAt: device.createdAt,
    });
    return device;
  }

  async get(deviceId: string): Promise<Device | null> {
    const [app, gen, status, pkg, createdAt] = await this.redis.hmget(this.keys.device(deviceId), 'app', 'gen', 'status', 'pkg', 'createdAt');
    if (!app || !gen) return null;
    return {
      id: deviceId,
      appId: app,
      gen: Number(gen),
      status: status === 'invalid' ? 'invalid' : 'active',
      pkg: pkg ?? '',
      createdAt: Number(createdAt ?? 0),
    };
  }

  /**
   * Records a HELLO nonce; false when it was seen within `ttlMs` (a replay). The TTL is
   * twice the timestamp window, so a nonce cannot expire while its HELLO is still fresh.
   */
  async claimNonce(deviceId: string, nonce: string, ttlMs: number): Promise<boolean> {
    const ok = await this.redis.set(this.keys.helloNonce(deviceId, nonce), '1', 'PX', ttlMs, 'NX');
    return ok === 'OK';
  }
}
