import { PetrelError } from '../domain/errors.js';
import { deliveriesFromThrift } from '../rpc/convert.js';
import { DeliverResult, GatewayStats, PublishResult, type Delivery, type GatewayService, type LogEntry } from '../rpc/gen/index.js';
import type { GatewayServer } from './gateway-server.js';

/** The whole-app broadcast log: every session of the app gets its entries. */
export const APP_LOG = 'app';

/**
 * GatewayService (idl/gateway.thrift) served by a gateway process: the dispatch tier's
 * way in. Each call works on this process's sessions only.
 */
export function gatewayRpcHandler(gateway: GatewayServer): GatewayService.IHandler {
  return {
    deliver(batch: Delivery[]): DeliverResult {
      return new DeliverResult({ notConnected: gateway.deliverBatch(deliveriesFromThrift(batch)) });
    },
    publish(entry: LogEntry): PublishResult {
      // Topic logs need the gateway's topic index, built with topic fan-out (issue #5).
      if (entry.log !== APP_LOG) throw new PetrelError('log_unsupported', `log "${entry.log.slice(0, 64)}" cannot be published yet; only "${APP_LOG}"`);
      const sent = gateway.publishToApp(entry.app, entry.frame, entry.messageId, entry.expiresAt.toNumber());
      return new PublishResult({ sent });
    },
    kick(device: string, session: string, code: number, reason: string): boolean {
      return gateway.kick(device, code, reason, session);
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
