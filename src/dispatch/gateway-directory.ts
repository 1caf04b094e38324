import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { deliveriesToThrift } from '../rpc/convert.js';
import { GatewayService } from '../rpc/gen/index.js';
import type { NodePools } from '../rpc/node-pools.js';
import type { GatewayLink, OutboundDelivery } from './gateway-link.js';

/**
 * GatewayLink over Thrift: finds a gateway by id in the registry and calls it through a
 * pooled client. A gateway that is not listed (it died and lapsed) or does not answer
 * holds none of its devices as far as the dispatcher is concerned; their messages stay
 * in their inboxes until the devices reconnect somewhere.
 */
export class GatewayDirectory implements GatewayLink {
  constructor(
    private readonly gateways: NodePools<GatewayService.Client>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async deliver(gatewayId: string, deliveries: readonly OutboundDelivery[]): Promise<string[]> {
    const all = () => deliveries.map((d) => d.deviceId);
    try {
      const pool = await this.gateways.pool(gatewayId);
      if (!pool) return all();
      const result = await pool.call('deliver', deliveriesToThrift(deliveries));
      return result.notConnected;
    } catch (err) {
      this.failed('deliver', gatewayId, err);
      return all();
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

  private failed(method: string, gatewayId: string, err: unknown): void {
    const code = (err as { code?: string }).code ?? 'internal';
    this.metrics.rpcErrors.labels(`gateway.${method}`, code).inc();
    this.gateways.invalidate();
    this.log.warn({ gateway: gatewayId, code, err: (err as Error).message }, `gateway ${method} failed`);
  }
}
