import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/**
 * claim_2 — take up to ARGV[2] devices due by ARGV[1] (unix ms) off the schedule.
 * KEYS[1] schedule (sorted set: device → due time), KEYS[2] first-failure hash.
 * Returns {device, firstFailureMs, ...}. Claimed entries are removed so two dispatchers
 * never work on the same device at once; a failed retry schedules it again.
 */
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, dev in ipairs(due) do
  redis.call('ZREM', KEYS[1], dev)
  out[#out + 1] = dev
  out[#out + 1] = redis.call('HGET', KEYS[2], dev) or ARGV[1]
end
return out`;

export interface DueDevice {
  deviceId: string;
  /** When delivery to its gateway first failed (unix ms): redelivery gives up some time after. */
  since: number;
}

/**
 * Devices whose gateway could not be reached while they had messages for them. Their
 * gateway may have been only briefly cut off (a pause, a Redis outage longer than the
 * registry TTL) with the device still connected to it, and then nothing else would ever
 * send those messages: no ONLINE report comes for a session that never ended. So they are
 * retried on a schedule until delivered, until the device's route changes, or give-up.
 */
export class RedeliverySchedule {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly delayMs: number,
  ) {}

  async schedule(deviceIds: readonly string[], now = Date.now()): Promise<void> {
    if (deviceIds.length === 0) return;
    const multi = this.redis.multi();
    // NX: a device already waiting keeps its due time (no postponing by repeated failures).
    multi.zadd(this.keys.redeliverySchedule(), 'NX', ...deviceIds.flatMap((d) => [now + this.delayMs, d]));
    for (const d of deviceIds) multi.hsetnx(this.keys.redeliverySince(), d, now);
    await multi.exec();
  }

  async claim(limit: number, now = Date.now()): Promise<DueDevice[]> {
    const flat = (await this.redis.eval(CLAIM, 2, this.keys.redeliverySchedule(), this.keys.redeliverySince(), now, limit)) as string[];
    const out: DueDevice[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ deviceId: flat[i]!, since: Number(flat[i + 1]) });
    return out;
  }

  /** Delivered, moved, or given up: forget the device's first failure. */
  async settle(deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length > 0) await this.redis.hdel(this.keys.redeliverySince(), ...deviceIds);
  }
}
