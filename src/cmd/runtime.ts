import type { Redis } from 'ioredis';
import type { PetrelConfig } from '../config/schema.js';
import type { DispatchHandoff } from '../dispatch/local-dispatch.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import type { RpcCaller } from '../rpc/local-rpc.js';
import type { DispatchService, GatewayService } from '../rpc/gen/index.js';
import { RedisKeys } from '../store/keys.js';
import { createRedis } from '../store/redis.js';

/**
 * Process-wide services built once from the config by an entry point and passed down.
 * `onClose` registers teardown in reverse order of construction.
 */
export interface Runtime {
  readonly config: PetrelConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly redis: Redis;
  readonly keys: RedisKeys;
  /**
   * What one tier started in this process offers the others: a dispatcher's local
   * fan-out (dispatch/local-dispatch.ts), to which the intakes hand messages. Set by the
   * tier that provides it; `petrel all` starts the API before its dispatcher, so the
   * intakes look it up per batch.
   */
  readonly local: {
    dispatch?: DispatchHandoff;
    /**
     * The gateways and dispatchers of this process by registry id, for callers in the
     * same process to skip Thrift's socket (`rpc.inProcess`); an entry leaves when its
     * RPC server closes.
     */
    gateways: Map<string, RpcCaller<GatewayService.Client>>;
    dispatchers: Map<string, RpcCaller<DispatchService.Client>>;
  };
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

export function createRuntime(config: PetrelConfig, name: string, options: { defaultMetrics?: boolean; log?: Logger } = {}): Runtime {
  const log = options.log ?? createLogger({ level: config.log.level, name });
  const metrics = createMetrics(undefined, { defaults: options.defaultMetrics !== false });
  const redis = createRedis(config.redis.url, log);
  const closers: Array<() => Promise<void> | void> = [async () => { await redis.quit().catch(() => redis.disconnect()); }];
  return {
    config,
    log,
    metrics,
    redis,
    keys: new RedisKeys(config.redis.keyPrefix),
    local: { gateways: new Map(), dispatchers: new Map() },
    onClose(fn) {
      closers.push(fn);
    },
    async close() {
      while (closers.length > 0) {
        const fn = closers.pop()!;
        try {
          await fn();
        } catch (err) {
          log.warn({ err }, 'error during shutdown');
        }
      }
    },
  };
}
