import type { Redis } from 'ioredis';
import type { Device } from '../domain/app.js';
import { newDeviceId } from '../domain/ids.js';
import type { RedisKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import { TurnPipeline } from './turn-pipeline.js';

/**
 * hello_3 — what a HELLO needs from storage, in one round trip.
 * KEYS[1] device hash, KEYS[2] nonce key, KEYS[3] device topic set (same {device} slot)
 * ARGV[1] nonce TTL ms
 * Returns {app, gen, status, fresh, no, topic...} where fresh is 1 if the nonce was not
 * seen before and no is the device number ('' for a device registered before numbers), or
 * nil when the device does not exist (then no nonce is recorded). The topics seed the
 * gateway's fan-out index for the session.
 */
const HELLO_3 = new RedisScript('hello_3', 3, `
local d = redis.call('HMGET', KEYS[1], 'app', 'gen', 'status', 'no', 'tv')
if not d[1] then return nil end
local fresh = redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'NX') and 1 or 0
local out = {d[1], d[2], d[3] or 'active', fresh, d[4] or '', d[5] or '0'}
for _, t in ipairs(redis.call('SMEMBERS', KEYS[3])) do out[#out + 1] = t end
return out
`);

/**
 * device_invalidate_1 — mark a device of an app invalid and bump its secret generation,
 * so the secret it holds no longer verifies (docs/architecture.md, derived secrets).
 * KEYS[1] device hash; ARGV[1] app id
 * Returns 0 when there is no such device in that app, 1 when it was invalidated now, 2
 * when it already was (nothing changes: invalidating twice is harmless).
 */
const DEVICE_INVALIDATE_1 = `
if redis.call('HGET', KEYS[1], 'app') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'status') == 'invalid' then return 2 end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'status', 'invalid')
return 1
`;

export interface HelloRecord {
  appId: string;
  gen: number;
  status: Device['status'];
  /** False when this nonce was already used by the device within the TTL (a replay). */
  nonceFresh: boolean;
  /** The device's number within its app; null for a device registered before numbers existed. */
  no: number | null;
  /** Topics the device is subscribed to. */
  topics: string[];
  /** Version of that topic set (device hash field `tv`, bumped by every change; 0 before any). */
  topicsVersion: number;
}

/** Registered devices and the HELLO nonce replay cache. */
export class DeviceStore {
  /** HELLO lookups of one event-loop turn go to Redis together (a reconnect storm's hot path). */
  private readonly helloLookups: TurnPipeline;

  /** `helloBatchMs`: how long a HELLO lookup may wait to share a Redis round trip with others. */
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    helloBatchMs = 0,
  ) {
    this.helloLookups = new TurnPipeline(redis, helloBatchMs);
  }

  async register(appId: string, pkg: string): Promise<Device> {
    // The number first: a device never exists without one. Its own counter call (the app's
    // slot, not the device's); a number lost to a crash in between is only a gap.
    const [[, no]] = (await this.redis.multi().hincrby(this.keys.app(appId), 'deviceSeq', 1).hincrby(this.keys.app(appId), 'devices', 1).exec()) as [[Error | null, number]];
    const device: Device = { id: newDeviceId(), appId, gen: 1, status: 'active', pkg, createdAt: Date.now() };
    await this.redis.hset(this.keys.device(device.id), {
      app: device.appId,
      gen: device.gen,
      status: device.status,
      pkg: device.pkg,
      createdAt: device.createdAt,
      no,
    });
    return device;
  }

  /**
   * Numbers a device registered before devices had numbers (at its first HELLO since).
   * Two racing HELLOs may draw two numbers; the first written is kept by both.
   */
  async assignNumber(deviceId: string, appId: string): Promise<number> {
    const drawn = await this.redis.hincrby(this.keys.app(appId), 'deviceSeq', 1);
    const key = this.keys.device(deviceId);
    const [[, set], [, no]] = (await this.redis.multi().hsetnx(key, 'no', drawn).hget(key, 'no').exec()) as [[Error | null, number], [Error | null, string]];
    if (set === 1) await this.redis.hincrby(this.keys.app(appId), 'devices', 1);
    return Number(no);
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
   * Invalidates a device of the app: its credentials fail at the next HELLO (4001).
   * 'unknown' also for another app's device, so tenants cannot probe each other's ids.
   */
  async invalidate(appId: string, deviceId: string): Promise<'invalidated' | 'already' | 'unknown'> {
    const r = await this.redis.eval(DEVICE_INVALIDATE_1, 1, this.keys.device(deviceId), appId);
    if (r === 1) await this.redis.hincrby(this.keys.app(appId), 'devices', -1);
    return r === 1 ? 'invalidated' : r === 2 ? 'already' : 'unknown';
  }

  /**
   * The device record a HELLO is checked against, and the nonce claimed, in one round
   * trip. Nonces are random per HELLO, so claiming one before the signature is checked
   * lets nobody burn a nonce the real device will use. Null for an unknown device.
   */
  async helloRecord(deviceId: string, nonce: string, nonceTtlMs: number): Promise<HelloRecord | null> {
    const keys = [this.keys.device(deviceId), this.keys.helloNonce(deviceId, nonce), this.keys.deviceTopics(deviceId)];
    const r = (await this.helloLookups.run(HELLO_3, keys, [nonceTtlMs])) as [string, string, string, number, string, string, ...string[]] | null;
    if (!r) return null;
    return {
      appId: r[0], gen: Number(r[1]), status: r[2] === 'invalid' ? 'invalid' : 'active', nonceFresh: r[3] === 1,
      no: r[4] === '' ? null : Number(r[4]), topicsVersion: Number(r[5]), topics: r.slice(6) as string[],
    };
  }
}
