import type { Redis } from 'ioredis';
import { pipelineReplies } from './redis.js';
import type { RedisKeys } from './keys.js';

/** Where a device is connected: its gateway and the session there. */
export interface Route {
  gatewayId: string;
  sessionId: string;
  /** When the dispatch tier learnt of the session (unix ms); absent on routes written before it was kept. */
  since?: number;
}

/**
 * route_clear_1 — forget a route only if it is still the given session's (an OFFLINE
 * report that arrives after the device already reconnected elsewhere changes nothing).
 * KEYS[1] route; ARGV[1] "gatewayId sessionId". The stored value may go on with " since".
 */
const ROUTE_CLEAR = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or (v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ') then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * route_online_2 — KEYS[1] route, KEYS[2] device hash (same {device} slot); ARGV[1] route value.
 * Returns {previous route or false, device status or false}.
 */
const ROUTE_ONLINE_2 = `
local previous = redis.call('SET', KEYS[1], ARGV[1], 'GET')
local d = redis.call('HMGET', KEYS[2], 'status', 'tv')
return {previous, d[1], d[2] or '0'}`;

/** Device → gateway routes, written from the gateways' ONLINE / OFFLINE reports. */
export class RouteStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Records the device's new session; returns the route it replaced, if any, and whether
   * the device has been invalidated meanwhile. An invalidation (dispatch/device-invalidation.ts)
   * marks the device, then reads its route; this writes the route, then reads the mark:
   * whichever runs second sees the other, so a session that authenticated just before
   * its device was invalidated is still found and closed. The same holds for the app
   * server changing the device's topics (dispatch/subscriptions.ts bumps `tv`, then looks
   * for a route): `topicsVersion` is what the topics are now.
   */
  async online(deviceId: string, route: Route, now = Date.now()): Promise<{ previous: Route | null; invalidated: boolean; topicsVersion: number }> {
    const [previous, status, tv] = (await this.redis.eval(ROUTE_ONLINE_2, 2, this.keys.route(deviceId), this.keys.device(deviceId), `${encode(route)} ${now}`)) as [string | null, string | null, string];
    return { previous: previous ? decodeRoute(previous) : null, invalidated: status === 'invalid', topicsVersion: Number(tv) };
  }

  async offline(deviceId: string, route: Route): Promise<void> {
    await this.redis.eval(ROUTE_CLEAR, 1, this.keys.route(deviceId), encode(route));
  }

  /** Routes of many devices in one round trip; null for devices not connected. */
  async lookup(deviceIds: readonly string[]): Promise<Array<Route | null>> {
    if (deviceIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of deviceIds) pipeline.get(this.keys.route(id));
    const values = await pipelineReplies(pipeline, deviceIds.length);
    return values.map((value) => (typeof value === 'string' ? decodeRoute(value) : null));
  }
}

/** The session part of a stored route, "gatewayId sessionId" (neither contains a space). */
function encode(route: Route): string {
  return `${route.gatewayId} ${route.sessionId}`;
}

/** "gatewayId sessionId since", or without " since" as routes were first written. */
export function decodeRoute(value: string): Route | null {
  const [gatewayId, sessionId, since] = value.split(' ');
  if (!gatewayId || !sessionId) return null;
  return since === undefined ? { gatewayId, sessionId } : { gatewayId, sessionId, since: Number(since) };
}
