import { APP_LOG } from '../domain/audience.js';
import { PetrelError } from '../domain/errors.js';
import { deliveriesFromThrift, publishFromThrift } from '../rpc/convert.js';
import { DeliverResult, GatewayStats, PublishResult, type Delivery, type GatewayService, type LogEntry } from '../rpc/gen/index.js';
import type { GatewayServer } from './gateway-server.js';


/**
 * GatewayService (idl/gateway.thrift) served by a gateway process: the dispatch tier's
 * way in. Each call works on this process's sessions only.
 */
export function gatewayRpcHandler(gateway: GatewayServer): GatewayService.IHandler {
  return {
    deliver(batch: Delivery[]): DeliverResult {
      return new DeliverResult({ notConnected: gateway.deliverBatch(deliveriesFromThrift(batch)) });
    },
    async publish(entry: LogEntry): Promise<PublishResult> {
      if (entry.log !== APP_LOG) throw new PetrelError('log_unsupported', `log "${entry.log.slice(0, 64)}" cannot be published to; only "${APP_LOG}"`);
      const { reached, late } = await gateway.publish(publishFromThrift(entry));
      return new PublishResult({ sent: reached, late });
    },
    kick(device: string, session: string, code: number, reason: string): boolean {
      return gateway.kick(device, code, reason, session);
    },
    changeTopics(device: string, topics: string[], subscribe: boolean): boolean {
      return gateway.changeTopics(device, topics, subscribe);
    },
    setTopics(device: string, topics: string[]): boolean {
      return gateway.setTopics(device, topics);
    },
    revoke(app: string, messageId: string, frame: Buffer, filter: string): number {
      return gateway.revoke(app, messageId, frame, filter);
    },
    async drain(): Promise<void> {
      await gateway.drain();
    },
    stats(): GatewayStats {
      const s = gateway.stats();
      return new GatewayStats({ id: s.id, connections: s.connections, sessions: s.sessions, draining: s.draining });
    },
  };
}
