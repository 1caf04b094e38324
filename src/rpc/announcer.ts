import type { Logger } from '../observability/logger.js';
import type { NodeInfo, NodeKind, NodeRegistry } from '../store/node-registry.js';

/**
 * Keeps a process listed in the registry: announces at once, then every third of the
 * TTL, so one missed refresh (a Redis blip) does not make it disappear. Withdraws on stop.
 */
export class Announcer {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly registry: NodeRegistry,
    private readonly kind: NodeKind,
    private readonly node: () => NodeInfo,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.registry.announce(this.kind, this.node(), this.ttlMs);
    this.timer = setInterval(() => {
      this.registry.announce(this.kind, this.node(), this.ttlMs).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'registry announce failed');
      });
    }, Math.floor(this.ttlMs / 3));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.registry.withdraw(this.kind, this.node().id).catch(() => undefined);
  }
}

/**
 * The address to announce for a Thrift listener: the configured advertised host and port
 * where set (a listener on 0.0.0.0, NAT, a proxy in front), else where it is bound.
 */
export function advertisedAddress(
  configured: { readonly advertiseHost?: string | undefined; readonly advertisePort?: number | undefined },
  bound: { readonly host: string; readonly port: number },
): { host: string; port: number } {
  return { host: configured.advertiseHost ?? bound.host, port: configured.advertisePort ?? bound.port };
}
