import { DeliveryState } from '../domain/message.js';
import { CloseCode } from '../protocol/index.js';
import type { BindingStore } from '../store/binding-store.js';
import type { DeviceStore } from '../store/device-store.js';
import type { InboxStore } from '../store/inbox-store.js';
import type { MessageStore } from '../store/message-store.js';
import type { RouteStore } from '../store/route-store.js';
import type { DeliveryEvents } from './delivery-events.js';
import type { GatewayLink } from './gateway-link.js';
import type { SubscriptionStore } from './subscriptions.js';

export interface DeviceInvalidationDeps {
  devices: DeviceStore;
  routes: RouteStore;
  gateways: Pick<GatewayLink, 'kick'>;
  bindings: BindingStore;
  subscriptions: SubscriptionStore;
  inbox: InboxStore;
  messages: MessageStore;
  /** What waited for the device fails: invalid_target receipts and failed counts. */
  events: DeliveryEvents;
}

/**
 * An app server's "this device is gone" (a user signed out for good, a stolen phone):
 * its credentials stop working, whatever named it (aliases, accounts, topics) lets go of
 * it, and what waited for it is given up.
 */
export class DeviceInvalidation {
  constructor(private readonly deps: DeviceInvalidationDeps) {}

  /**
   * Invalidates a device of the app; false when the app has no such device. Safe to
   * repeat: a second call finds the device already invalid and finishes any cleanup an
   * earlier call did not get to (the device's own sets still name what is left).
   */
  async invalidate(appId: string, deviceId: string): Promise<boolean> {
    const { devices, routes, gateways, bindings, subscriptions, inbox, messages, events } = this.deps;
    // First the record: from here on a HELLO with the old secret fails (4001), and the
    // send path treats the device as unknown.
    if ((await devices.invalidate(appId, deviceId)) === 'unknown') return false;
    // Then the session it may hold now, closed with 4001 (do not retry with these
    // credentials) by the gateway its route names. Any session of the device there: a
    // newer one than the route shows cannot have authenticated after the line above.
    const [route] = await routes.lookup([deviceId]);
    if (route) await gateways.kick(route.gatewayId, deviceId, '', CloseCode.AUTH_FAILED, 'device invalidated');
    await Promise.all([
      bindings.unbindAll(appId, deviceId),
      subscriptions.removeDevice(appId, deviceId),
      inbox.clear(deviceId)
        .then((ids) => messages.record(ids.map((messageId) => ({ messageId, deviceId, state: DeliveryState.FAILED }))))
        .then((failed) => events.counted(failed)),
    ]);
    return true;
  }
}
