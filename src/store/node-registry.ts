import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

export type NodeKind = 'gateway' | 'dispatcher';

/** A live process of a tier, as it announces itself. */
export interface NodeInfo {
  id: string;
  /** Thrift host:port. */
  host: string;
  port: number;
  /** Current load (a gateway's connections), for weighting. */
  load: number;
}

/**
 * Gateways and dispatchers announce themselves here (address, load) with a TTL and
 * refresh it; a process that dies simply lapses. Callers find their peers by listing.
 */
export class NodeRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async announce(kind: NodeKind, node: NodeInfo, ttlMs: number): Promise<void> {
    const lapse = Date.now() + ttlMs;
    await this.redis
      .multi()
      .hset(this.keys.node(kind, node.id), { host: node.host, port: node.port, load: node.load })
      .pexpire(this.keys.node(kind, node.id), ttlMs)
      .zadd(this.keys.nodes(kind), lapse, node.id)
      // Entries of nodes that lapsed long ago: trimmed by whoever announces.
      .zremrangebyscore(this.keys.nodes(kind), '-inf', Date.now() - 10 * ttlMs)
      .exec();
  }

  async withdraw(kind: NodeKind, id: string): Promise<void> {
    await this.redis.multi().del(this.keys.node(kind, id)).zrem(this.keys.nodes(kind), id).exec();
  }

  async live(kind: NodeKind): Promise<NodeInfo[]> {
    const ids = await this.redis.zrangebyscore(this.keys.nodes(kind), Date.now(), '+inf');
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.node(kind, id));
    const results = (await pipeline.exec()) ?? [];
    const nodes: NodeInfo[] = [];
    ids.forEach((id, i) => {
      const h = results[i]?.[1] as Record<string, string> | undefined;
      if (h?.['host'] && h['port']) nodes.push({ id, host: h['host'], port: Number(h['port']), load: Number(h['load'] ?? 0) });
    });
    return nodes;
  }
}
