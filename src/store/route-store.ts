import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** Where a device is connected: its gateway and the session there. */
export interface Route {
  gatewayId: string;
  sessionId: string;
}

/**
 * route_clear_1 — forget a route only if it is still the given session's (an OFFLINE
 * report that arrives after the device already reconnected elsewhere changes nothing).
 */
const ROUTE_CLEAR = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Device → gateway routes, written from the gateways' ONLINE / OFFLINE reports. */
export class RouteStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Records the device's new session; returns the route it replaced, if any. */
  async online(deviceId: string, route: Route): Promise<Route | null> {
    const previous = await this.redis.set(this.keys.route(deviceId), encode(route), 'GET');
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

function encode(route: Route): string {
  return `${route.gatewayId} ${route.sessionId}`;
}

function decode(value: string): Route | null {
  const space = value.indexOf(' ');
  if (space < 0) return null;
  return { gatewayId: value.slice(0, space), sessionId: value.slice(space + 1) };
}
