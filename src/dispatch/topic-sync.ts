import type { RouteStore } from '../store/route-store.js';
import type { GatewayLink } from './gateway-link.js';

/**
 * Keeps gateways' fan-out indexes in step when the app server (not the device) changes a
 * device's topics: the gateway holding the device's session is told. Best effort: a
 * gateway that cannot be reached is logged by the link, and the device's next HELLO reads
 * its topics from Redis anyway. A device's own SUB/UNSUB needs none of this: its gateway
 * updates its index when the SUBACK goes out.
 */
export class TopicSync {
  constructor(
    private readonly routes: RouteStore,
    private readonly gateways: GatewayLink,
  ) {}

  async changed(deviceIds: readonly string[], topics: readonly string[], subscribe: boolean): Promise<void> {
    if (deviceIds.length === 0 || topics.length === 0) return;
    const where = await this.routes.lookup(deviceIds);
    await Promise.all(deviceIds.map((d, i) => {
      const route = where[i];
      return route ? this.gateways.changeTopics(route.gatewayId, d, topics, subscribe) : undefined;
    }));
  }
}
