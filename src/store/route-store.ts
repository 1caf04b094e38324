import type { Redis } from 'ioredis';
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

/** Device → gateway routes, written from the gateways' ONLINE / OFFLINE reports. */
export class RouteStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Records the device's new session; returns the route it replaced, if any. */
  async online(deviceId: string, route: Route, now = Date.now()): Promise<Route | null> {
    const previous = await this.redis.set(this.keys.route(deviceId), `${encode(route)} ${now}`, 'GET');
    return previous === null ? null : decode(previous);
  }

  async offline(deviceId: string, route: Route): Promise<void> {
    await this.redis.eval(ROUTE_CLEAR, 1, this.keys.route(deviceId), encode(route));
  }

  /** Routes of many devices in one round trip; null for devices not connected. */
  async lookup(deviceIds: readonly string[]): Promise<Array<Route | null>> {
    if (deviceIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of deviceIds) pipeline.get(this.keys.route(id));
    const results = (await pipeline.exec()) ?? [];
    return deviceIds.map((_, i) => {
      const [err, value] = results[i] ?? [new Error('pipeline discarded'), null];
      if (err) throw err;
      return typeof value === 'string' ? decode(value) : null;
    });
  }
}

/** The session part of a stored route, "gatewayId sessionId" (neither contains a space). */
function encode(route: Route): string {
  return `${route.gatewayId} ${route.sessionId}`;
}

/** "gatewayId sessionId since", or without " since" as routes were first written. */
function decode(value: string): Route | null {
  const [gatewayId, sessionId, since] = value.split(' ');
  if (!gatewayId || !sessionId) return null;
  return since === undefined ? { gatewayId, sessionId } : { gatewayId, sessionId, since: Number(since) };
}
