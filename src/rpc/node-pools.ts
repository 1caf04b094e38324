import type { NodeInfo, NodeKind, NodeRegistry } from '../store/node-registry.js';
import type { RpcCaller } from './local-rpc.js';
import { RpcPool, type ClientClass, type GeneratedClient } from './rpc-pool.js';

/**
 * Thrift client pools to the live processes of one tier, found in the Redis registry
 * (store/node-registry.ts). The list is re-read at most every `refreshMs`; a pool is kept
 * per process and replaced if its address changes (a restart on another port).
 */
export class NodePools<C extends GeneratedClient> {
  private readonly pools = new Map<string, { node: NodeInfo; pool: RpcPool<C> }>();
  private nodes: NodeInfo[] = [];
  private readAt = 0;
  private reading: Promise<NodeInfo[]> | null = null;

  constructor(
    private readonly registry: NodeRegistry,
    private readonly kind: NodeKind,
    private readonly client: ClientClass<C>,
    private readonly options: {
      refreshMs: number;
      callTimeoutMs: number;
      size?: number;
      /** Nodes of this process (Runtime.local): called directly, not through the registry and a socket. */
      local?: ReadonlyMap<string, RpcCaller<C>>;
    },
  ) {}

  /** Live nodes of the tier (cached for refreshMs). */
  async live(): Promise<NodeInfo[]> {
    if (Date.now() - this.readAt < this.options.refreshMs) return this.nodes;
    this.reading ??= this.registry.live(this.kind).then(
      (nodes) => {
        this.nodes = nodes;
        this.readAt = Date.now();
        this.reading = null;
        return nodes;
      },
      (err: unknown) => {
        this.reading = null;
        throw err;
      },
    );
    return this.reading;
  }

  /** The pool of a live node, or null when the registry does not list it (dead or gone). */
  async pool(id: string): Promise<RpcCaller<C> | null> {
    const local = this.options.local?.get(id);
    if (local) return local;
    let node = (await this.live()).find((n) => n.id === id);
    if (!node && Date.now() - this.readAt > 100) {
      // Not in a cached list: it may have (re-)announced since; read once more before giving up.
      this.invalidate();
      node = (await this.live()).find((n) => n.id === id);
    }
    if (!node) return null;
    const held = this.pools.get(id);
    if (held && held.node.host === node.host && held.node.port === node.port) return held.pool;
    if (held) void held.pool.close();
    const pool = new RpcPool<C>({
      client: this.client, host: node.host, port: node.port, name: `${this.kind} ${id}`,
      callTimeoutMs: this.options.callTimeoutMs, ...(this.options.size ? { size: this.options.size } : {}),
    });
    this.pools.set(id, { node, pool });
    return pool;
  }

  /** Forget cached registry contents (after a call to a node failed). */
  invalidate(): void {
    this.readAt = 0;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.pool.close()));
    this.pools.clear();
  }
}
