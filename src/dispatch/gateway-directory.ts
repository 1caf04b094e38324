import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { deliveriesToThrift, publishToThrift } from '../rpc/convert.js';
import { GatewayService } from '../rpc/gen/index.js';
import type { NodePools } from '../rpc/node-pools.js';
import type { BroadcastPublish, DeliverOutcome, GatewayLink, LiveGateway, OutboundDelivery } from './gateway-link.js';

/**
 * GatewayLink over Thrift: finds a gateway by id in the registry and calls it through a
 * pooled client. A gateway that is not listed (it died and lapsed, or was cut off from
 * Redis for a while) or does not answer is reported unreachable; the caller schedules a
 * redelivery (dispatch/redelivery.ts) in case its devices are in fact still connected.
 */
export class GatewayDirectory implements GatewayLink {
  constructor(
    private readonly gateways: NodePools<GatewayService.Client>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async deliver(gatewayId: string, deliveries: readonly OutboundDelivery[]): Promise<DeliverOutcome> {
    const all = { missed: deliveries.map((d) => d.deviceId), unreachable: true };
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (!pool) return all;
      const result = await pool.call('deliver', deliveriesToThrift(deliveries));
      return { missed: result.notConnected, unreachable: false };
    } catch (err) {
      this.failed('deliver', gatewayId, err);
      return all;
    }
  }

  async kick(gatewayId: string, deviceId: string, sessionId: string, code: number, reason: string): Promise<void> {
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (pool) await pool.call('kick', deviceId, sessionId, code, reason);
    } catch (err) {
      this.failed('kick', gatewayId, err);
    }
  }

  async live(): Promise<LiveGateway[]> {
    return (await this.gateways.live()).map((n) => ({ id: n.id, load: n.load }));
  }

  async publish(gatewayId: string, entry: BroadcastPublish): Promise<{ sent: number; late: boolean } | null> {
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (!pool) return null;
      const result = await pool.call('publish', publishToThrift(entry));
      // A gateway of an older release does not say: taken as late, the safe side.
      return { sent: result.sent, late: result.late !== false };
    } catch (err) {
      this.failed('publish', gatewayId, err);
      return null;
    }
  }

  async changeTopics(gatewayId: string, deviceId: string, topics: readonly string[], subscribe: boolean): Promise<void> {
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (pool) await pool.call('changeTopics', deviceId, [...topics], subscribe);
    } catch (err) {
      this.failed('changeTopics', gatewayId, err);
    }
  }

  async setTopics(gatewayId: string, deviceId: string, topics: readonly string[]): Promise<void> {
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (pool) await pool.call('setTopics', deviceId, [...topics]);
    } catch (err) {
      this.failed('setTopics', gatewayId, err);
    }
  }

  async revoke(gatewayId: string, appId: string, messageId: string, frame: Buffer, filter: string): Promise<number | null> {
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (!pool) return null;
      return await pool.call('revoke', appId, messageId, frame, filter);
    } catch (err) {
      this.failed('revoke', gatewayId, err);
      return null;
    }
  }

  private failed(method: string, gatewayId: string, err: unknown): void {
    const code = (err as { code?: string }).code ?? 'internal';
    this.metrics.rpcErrors.labels(`gateway.${method}`, code).inc();
    this.gateways.invalidate();
    this.log.warn({ gateway: gatewayId, code, err: (err as Error).message }, `gateway ${method} failed`);
  }
}
