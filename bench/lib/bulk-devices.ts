import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { deriveDeviceSecret } from '../../src/domain/device-secret.js';
import { BindingStore } from '../../src/store/binding-store.js';
import type { RedisKeys } from '../../src/store/keys.js';
import type { SwarmDevice } from './device-swarm.js';

/**
 * A fleet far too large to register through the gateway (a million REGISTER frames take
 * minutes, and registration is not what the campaign benchmark measures), written
 * straight to Redis in pipelines, device i named by its index so the bench never holds the
 * fleet's ids: `deviceId(i)` recomputes one when needed (audience lines, online devices).
 */
export class BulkFleet {
  /** 8 random URL-safe characters + 14 base-36 digits of the index: 22 characters, like newDeviceId(). */
  private readonly tag = randomBytes(6).toString('base64url');

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly appId: string,
    readonly size: number,
  ) {}

  deviceId(i: number): string {
    return this.tag + i.toString(36).padStart(14, '0');
  }

  /**
   * Writes the device hashes exactly as DeviceStore.register does (app, gen 1, active, pkg,
   * createdAt, no: a number drawn from the app's deviceSeq) and counts them in the app's
   * `devices`; `batch` HSETs per pipeline. Resolves to devices written per second.
   */
  async write(batch = 10_000): Promise<number> {
    const started = Date.now();
    const last = await this.redis.hincrby(this.keys.app(this.appId), 'deviceSeq', this.size);
    const firstNo = last - this.size + 1;
    const createdAt = Date.now();
    for (let i = 0; i < this.size; i += batch) {
      const pipeline = this.redis.pipeline();
      for (let j = i; j < Math.min(this.size, i + batch); j++) {
        pipeline.hset(this.keys.device(this.deviceId(j)), 'app', this.appId, 'gen', 1, 'status', 'active', 'pkg', 'bench', 'createdAt', createdAt, 'no', firstNo + j);
      }
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([err]) => err);
      if (failed) throw failed[0];
    }
    await this.redis.hincrby(this.keys.app(this.appId), 'devices', this.size);
    return this.size / Math.max(0.001, (Date.now() - started) / 1000);
  }

  /** Binds `alias(i)` to device i for each index, through the BindingStore (both sides kept), `concurrency` at a time. */
  async bindAliases(indices: readonly number[], alias: (i: number) => string, concurrency = 500): Promise<void> {
    const bindings = new BindingStore(this.redis, this.keys, 10);
    for (let k = 0; k < indices.length; k += concurrency) {
      await Promise.all(indices.slice(k, k + concurrency).map((i) => bindings.bind('aliases', this.appId, this.deviceId(i), alias(i))));
    }
  }

  /** Credentials of device i for the SDK: its secret derived as REGISTER would have issued it (gen 1). */
  credentials(deviceKey: Buffer, i: number): SwarmDevice {
    const dev = this.deviceId(i);
    return { appId: this.appId, dev, secret: deriveDeviceSecret(deviceKey, this.appId, dev, 1) };
  }
}
