import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import { decodeRoute, type Route } from './route-store.js';
import type { TurnPipeline } from './turn-pipeline.js';

/**
 * inbox_add_4 — put a message in a device's inbox, keeping at most `cap` entries, and
 * read where the device is connected.
 * KEYS[1] inbox (sorted set, scores 0, ordered by message id), KEYS[2] overflow flag,
 * KEYS[3] collapse hash (collapse id → message id), KEYS[4] the device's route
 * ARGV[1] message id, ARGV[2] cap, ARGV[3] expiry of the message (unix ms),
 * ARGV[4] collapse id ('' for none)
 * Returns {added (0|1), replaced id or '', superseded (0|1), route or '', evicted ids...}.
 * The route is read after the write, in the same atomic step: a device whose session
 * starts later is replayed this message from its inbox by its ONLINE report, one whose
 * session started earlier is found here, so none is missed — and the dispatcher needs
 * no round trip of its own to look routes up.
 * Collapse: a newer message (ids sort by accept time) takes the place of a pending older
 * one with the same collapse id; an older one arriving late is superseded, not added.
 * The oldest entries beyond the cap are evicted and the overflow flag set, so the
 * device's next session starts with RESYNC instead of a silent gap. The inbox lives as
 * long as its longest-lived message.
 */
const INBOX_ADD_4 = new RedisScript('inbox_add_4', 4, `
local replaced = ''
if ARGV[4] ~= '' then
  local other = redis.call('HGET', KEYS[3], ARGV[4])
  if other and other > ARGV[1] and redis.call('ZSCORE', KEYS[1], other) then return {0, '', 1, redis.call('GET', KEYS[4]) or ''} end
  if other and other < ARGV[1] and redis.call('ZREM', KEYS[1], other) == 1 then replaced = other end
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
  -- Bounded: entries whose message left the inbox (ACKed, expired) go once they
  -- outnumber the inbox cap twice over.
  if redis.call('HLEN', KEYS[3]) > 2 * tonumber(ARGV[2]) then
    local fields = redis.call('HGETALL', KEYS[3])
    for i = 1, #fields, 2 do
      if not redis.call('ZSCORE', KEYS[1], fields[i + 1]) and fields[i + 1] ~= ARGV[1] then redis.call('HDEL', KEYS[3], fields[i]) end
    end
  end
  redis.call('PEXPIREAT', KEYS[3], ARGV[3], 'GT')
  if redis.call('PTTL', KEYS[3]) == -1 then redis.call('PEXPIREAT', KEYS[3], ARGV[3]) end
end
local added = redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIREAT', KEYS[1], ARGV[3])
else redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'GT') end
local out = {added, replaced, 0, redis.call('GET', KEYS[4]) or ''}
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #popped, 2 do out[#out + 1] = popped[i] end
  redis.call('SET', KEYS[2], '1', 'PXAT', redis.call('PEXPIRETIME', KEYS[1]))
end
return out
`);

/**
 * inbox_remove_1 — remove ids from an inbox, returning those that were there (so a
 * repeated or forged ACK counts nothing). KEYS[1] inbox; ARGV ids.
 */
const INBOX_REMOVE_1 = new RedisScript('inbox_remove_1', 1, `
local removed = {}
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then removed[#removed + 1] = ARGV[i] end
end
return removed
`);

export interface InboxAddResult {
  added: boolean;
  /** A pending older message with the same collapse id, taken out for this one. */
  replaced: string | null;
  /** A newer message with the same collapse id is pending: this one was not added. */
  superseded: boolean;
  /** Older messages pushed out by the cap: dropped for this device. */
  evicted: string[];
  /** Where the device was connected right after the write; null when it was not. */
  route: Route | null;
}

/**
 * Per-device inboxes of unacknowledged unicast messages (write diffusion): one entry per
 * device and message, removed by the device's ACK or when found expired at replay.
 */
export class InboxStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: TurnPipeline,
    private readonly cap: number,
  ) {}

  /** Calls made in the same turn share one round trip (TurnPipeline). */
  async add(deviceId: string, messageId: string, expiresAt: number, collapseId = ''): Promise<InboxAddResult> {
    const out = (await this.scripts.run(
      INBOX_ADD_4,
      [this.keys.inbox(deviceId), this.keys.inboxOverflow(deviceId), this.keys.inboxCollapse(deviceId), this.keys.route(deviceId)],
      [messageId, this.cap, expiresAt, collapseId],
    )) as [number, string, number, string, ...string[]];
    const [added, replaced, superseded, route, ...evicted] = out;
    return { added: added === 1, replaced: replaced === '' ? null : replaced, superseded: superseded === 1, evicted, route: route === '' ? null : decodeRoute(route) };
  }

  async remove(deviceId: string, messageIds: readonly string[]): Promise<string[]> {
    if (messageIds.length === 0) return [];
    return (await this.scripts.run(INBOX_REMOVE_1, [this.keys.inbox(deviceId)], messageIds)) as string[];
  }

  /** Pending message ids, oldest first. */
  async pending(deviceId: string): Promise<string[]> {
    return this.redis.zrange(this.keys.inbox(deviceId), 0, -1);
  }

  /**
   * Empties a device's inbox (it was invalidated); returns the ids that were pending, so
   * their traces can say what became of them. An ACK racing this settles each id once.
   */
  async clear(deviceId: string): Promise<string[]> {
    const removed = await this.remove(deviceId, await this.pending(deviceId));
    await this.redis.del(this.keys.inbox(deviceId), this.keys.inboxOverflow(deviceId), this.keys.inboxCollapse(deviceId));
    return removed;
  }

  /** Whether messages were evicted since the device last got its RESYNC. */
  async overflowed(deviceId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.inboxOverflow(deviceId))) === 1;
  }

  /** The device has been sent RESYNC inbox_overflow. */
  async clearOverflow(deviceId: string): Promise<void> {
    await this.redis.del(this.keys.inboxOverflow(deviceId));
  }
}
