import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

export type BindingKind = 'aliases' | 'accounts';

/**
 * account_bind_2 — bind a device to a user account, keeping the newest `cap` devices.
 * KEYS[1] account (sorted set by bind time); ARGV[1] device, ARGV[2] now ms, ARGV[3] cap.
 * Returns the devices unbound to make room (their own account sets are updated by the caller).
 */
const ACCOUNT_BIND = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
local out = {}
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #popped, 2 do out[#out + 1] = popped[i] end
end
return out`;

/**
 * Names an app server uses for its devices, so it can send without keeping our device
 * ids: an alias names one device (binding it elsewhere moves it, like Xiaomi's alias), an
 * account names a user's devices (up to `maxDevicesPerAccount`, the oldest bind goes).
 * Both sides are kept (name → devices, device → names) so either can be listed or cleaned.
 */
export class BindingStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly maxDevicesPerAccount: number,
  ) {}

  async bind(kind: BindingKind, appId: string, deviceId: string, name: string): Promise<void> {
    if (kind === 'aliases') {
      const previous = await this.redis.set(this.keys.alias(appId, name), deviceId, 'GET');
      if (previous !== null && previous !== deviceId) await this.redis.srem(this.keys.deviceAliases(previous), name);
      await this.redis.sadd(this.keys.deviceAliases(deviceId), name);
      return;
    }
    const evicted = (await this.redis.eval(ACCOUNT_BIND, 1, this.keys.account(appId, name), deviceId, Date.now(), this.maxDevicesPerAccount)) as string[];
    await this.redis.sadd(this.keys.deviceAccounts(deviceId), name);
    for (const other of evicted) await this.redis.srem(this.keys.deviceAccounts(other), name);
  }

  /** Returns false when the device was not bound to that name. */
  async unbind(kind: BindingKind, appId: string, deviceId: string, name: string): Promise<boolean> {
    if (kind === 'aliases') {
      const removed = await this.redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        1, this.keys.alias(appId, name), deviceId,
      );
      await this.redis.srem(this.keys.deviceAliases(deviceId), name);
      return removed === 1;
    }
    const removed = await this.redis.zrem(this.keys.account(appId, name), deviceId);
    await this.redis.srem(this.keys.deviceAccounts(deviceId), name);
    return removed === 1;
  }

  /** Unbinds every alias and account of a device (it was invalidated). */
  async unbindAll(appId: string, deviceId: string): Promise<void> {
    const kinds: BindingKind[] = ['aliases', 'accounts'];
    await Promise.all(kinds.map(async (kind) => {
      const names = await this.namesOf(kind, deviceId);
      await Promise.all(names.map((name) => this.unbind(kind, appId, deviceId, name)));
    }));
  }

  /** Names bound to a device, sorted; with `limit`, at most that many (any of them when there are more). */
  async namesOf(kind: BindingKind, deviceId: string, limit?: number): Promise<string[]> {
    const key = kind === 'aliases' ? this.keys.deviceAliases(deviceId) : this.keys.deviceAccounts(deviceId);
    return (limit === undefined ? await this.redis.smembers(key) : await this.redis.srandmember(key, limit)).sort();
  }

  /**
   * The distinct devices the names resolve to, in order of first appearance, and the
   * names bound to no device (their senders get an `invalid_target` receipt).
   */
  async resolve(kind: BindingKind, appId: string, names: readonly string[]): Promise<{ devices: string[]; unbound: string[] }> {
    if (names.length === 0) return { devices: [], unbound: [] };
    const pipeline = this.redis.pipeline();
    for (const name of names) {
      if (kind === 'aliases') pipeline.get(this.keys.alias(appId, name));
      else pipeline.zrange(this.keys.account(appId, name), 0, -1);
    }
    const results = (await pipeline.exec()) ?? [];
    const devices = new Set<string>();
    const unbound: string[] = [];
    results.forEach(([err, value], i) => {
      if (err) throw err;
      const bound = typeof value === 'string' ? [value] : Array.isArray(value) ? (value as string[]) : [];
      if (bound.length === 0) unbound.push(names[i]!);
      for (const d of bound) devices.add(d);
    });
    return { devices: [...devices], unbound };
  }
}
