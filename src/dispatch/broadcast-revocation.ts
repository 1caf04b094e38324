import type { Queue } from 'bullmq';
import { PetrelError } from '../domain/errors.js';
import { FrameType, type WireCodec } from '../protocol/index.js';
import type { BroadcastLog } from '../store/broadcast-log.js';
import type { RedisKeys } from '../store/keys.js';
import { storage } from '../store/redis.js';
import type { Redis } from 'ioredis';
import type { GatewayLink } from './gateway-link.js';
import { scheduledJobId, type SendJob } from './send-queue.js';

/**
 * Revoking a broadcast (POST /v1/messages/{id}/revoke): the message hash decides first
 * (revoke_2), so catch-up stops replaying it at once; then every gateway stops re-sending
 * it and tells the sessions it was for (REVOKE), whose SDKs drop it if it has not reached
 * the app yet. A broadcast still waiting for its sendAt is simply cancelled.
 */
export class BroadcastRevocation {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly log: BroadcastLog,
    private readonly gateways: GatewayLink,
    private readonly queue: Queue<SendJob>,
    private readonly codec: WireCodec,
  ) {}

  async revoke(appId: string, messageId: string): Promise<{ state: 'revoked' | 'cancelled'; devicesTold: number }> {
    const outcome = await storage(this.log.revoke(appId, messageId));
    if (outcome === 'not_found') throw new PetrelError('message_not_found');
    if (outcome === 'not_broadcast') throw new PetrelError('message_not_broadcast');
    if (outcome === 'cancelled') {
      await this.queue.remove(scheduledJobId(messageId)).catch(() => undefined);
      return { state: 'cancelled', devicesTold: 0 };
    }
    const filter = (await storage(this.redis.hget(this.keys.message(messageId), 'filter'))) ?? '';
    const frame = this.codec.encode({ t: FrameType.REVOKE, id: messageId });
    const gateways = await storage(this.gateways.live());
    const told = await Promise.all(gateways.map((g) => this.gateways.revoke(g.id, appId, messageId, frame, filter)));
    return { state: 'revoked', devicesTold: told.reduce<number>((sum, n) => sum + (n ?? 0), 0) };
  }
}
