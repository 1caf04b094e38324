import { readFileSync } from 'node:fs';
import { configSchema, type PetrelConfig } from './schema.js';
import { ConfigError } from '../domain/errors.js';

/**
 * Environment variables and the config path each one sets. Explicit rather than derived
 * from names so the list doubles as documentation (README, "Configuration").
 */
const envMap: ReadonlyArray<readonly [string, string, 'string' | 'int' | 'bool']> = [
  ['PETREL_DATA_DIR', 'dataDir', 'string'],
  ['PETREL_REDIS_URL', 'redis.url', 'string'],
  ['PETREL_REDIS_KEY_PREFIX', 'redis.keyPrefix', 'string'],
  ['PETREL_LOG_LEVEL', 'log.level', 'string'],
  ['PETREL_DEVICE_KEY', 'auth.deviceKey', 'string'],
  ['PETREL_ADMIN_TOKEN', 'admin.token', 'string'],
  ['PETREL_GATEWAY_ID', 'gateway.id', 'string'],
  ['PETREL_GATEWAY_HOST', 'gateway.host', 'string'],
  ['PETREL_GATEWAY_PORT', 'gateway.port', 'int'],
  ['PETREL_HTTP_HOST', 'http.host', 'string'],
  ['PETREL_OPS_HOST', 'ops.host', 'string'],
  ['PETREL_OPS_PORT', 'ops.port', 'int'],
  ['PETREL_HTTP_PORT', 'http.port', 'int'],
  ['PETREL_HTTP_WORKERS', 'http.workers', 'int'],
  ['PETREL_RPC_IN_PROCESS', 'rpc.inProcess', 'bool'],
  ['PETREL_GATEWAY_RPC_HOST', 'gateway.rpc.host', 'string'],
  ['PETREL_GATEWAY_RPC_PORT', 'gateway.rpc.port', 'int'],
  ['PETREL_GATEWAY_RPC_ADVERTISE_HOST', 'gateway.rpc.advertiseHost', 'string'],
  ['PETREL_GATEWAY_RPC_ADVERTISE_PORT', 'gateway.rpc.advertisePort', 'int'],
  ['PETREL_ACK_TIMEOUT_MS', 'gateway.ackTimeoutMs', 'int'],
  ['PETREL_GATEWAY_CONNECTS_PER_SEC', 'gateway.limits.connectsPerSec', 'int'],
  ['PETREL_REGISTRATIONS_PER_MINUTE', 'gateway.limits.registrationsPerMinute', 'int'],
  ['PETREL_SESSIONS_PER_APP', 'gateway.limits.sessionsPerApp', 'int'],
  ['PETREL_DISPATCH_HOST', 'dispatch.host', 'string'],
  ['PETREL_DISPATCH_PORT', 'dispatch.port', 'int'],
  ['PETREL_DISPATCH_ADVERTISE_HOST', 'dispatch.advertiseHost', 'string'],
  ['PETREL_DISPATCH_ADVERTISE_PORT', 'dispatch.advertisePort', 'int'],
  ['PETREL_DISPATCH_CONCURRENCY', 'dispatch.concurrency', 'int'],
  ['PETREL_DISPATCH_LOCAL', 'dispatch.local', 'bool'],
  ['PETREL_STALLED_INTERVAL_MS', 'dispatch.stalledIntervalMs', 'int'],
  ['PETREL_INBOX_CAP', 'dispatch.inboxCap', 'int'],
  ['PETREL_LOG_MAX_ENTRIES', 'dispatch.logMaxEntries', 'int'],
  ['PETREL_CAMPAIGN_MAX_AUDIENCE', 'campaigns.maxAudience', 'int'],
  ['PETREL_APP_RATE_LIMIT', 'limits.appPointsPerSec', 'int'],
  ['PETREL_REGISTRY_TTL_MS', 'registry.ttlMs', 'int'],
  ['PETREL_RECEIPT_WINDOW_MS', 'receipts.windowMs', 'int'],
  ['PETREL_RECEIPT_ATTEMPTS', 'receipts.attempts', 'int'],
  ['PETREL_RECEIPT_BACKOFF_MS', 'receipts.backoffMs', 'int'],
  ['PETREL_RECEIPT_TIMEOUT_MS', 'receipts.timeoutMs', 'int'],
  ['PETREL_STATS_FLUSH_MS', 'stats.flushMs', 'int'],
];

export { envMap as configEnvironment };

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; defaults to $PETREL_CONFIG when set. */
  file?: string | undefined;
  /** Applied last, over file and environment (tests, embedded use). */
  overrides?: Record<string, unknown>;
}

const BOOLEANS = new Map([['true', true], ['1', true], ['false', false], ['0', false]]);

/** File, then environment, then overrides; validated and deep-frozen. */
export function loadConfig(options: LoadOptions = {}): PetrelConfig {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const file = options.file ?? env['PETREL_CONFIG'];
  if (file) {
    try {
      deepMerge(raw, JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
  }
  for (const [name, path, kind] of envMap) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (kind === 'int' && !/^\d+$/.test(value)) throw new ConfigError(`${name} must be an integer, got "${value}"`);
    if (kind === 'bool' && !BOOLEANS.has(value)) throw new ConfigError(`${name} must be one of ${[...BOOLEANS.keys()].join(', ')}, got "${value}"`);
    setPath(raw, path, kind === 'int' ? Number(value) : kind === 'bool' ? BOOLEANS.get(value) : value);
  }
  if (options.overrides) deepMerge(raw, options.overrides);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${issues}`);
  }
  const config = parsed.data;
  const hb = config.gateway.heartbeat;
  if (!(hb.minSec <= hb.defaultSec && hb.defaultSec <= hb.maxSec)) {
    throw new ConfigError('gateway.heartbeat must satisfy minSec <= defaultSec <= maxSec');
  }
  // Published session counts lapse after registry.ttlMs: refreshed less often than a third
  // of it (the announcer's pace), one slow refresh would drop a live gateway's sessions from
  // every other gateway's count.
  if (config.gateway.limits.sessionsRefreshMs * 3 > config.registry.ttlMs) {
    throw new ConfigError(`gateway.limits.sessionsRefreshMs (${config.gateway.limits.sessionsRefreshMs}) must be at most a third of registry.ttlMs (${config.registry.ttlMs})`);
  }
  // A full batch costs maxBatch points: a smaller budget would refuse it forever.
  const points = config.limits.appPointsPerSec;
  if (points > 0 && points < config.messages.maxBatch) {
    throw new ConfigError(`limits.appPointsPerSec (${points}) must be 0 or at least messages.maxBatch (${config.messages.maxBatch})`);
  }
  return deepFreeze(config);
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (key === '__proto__' || key === 'constructor') continue;
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) {
      deepMerge(existing, value);
    } else if (isPlainObject(value)) {
      const copy: Record<string, unknown> = {};
      deepMerge(copy, value);
      target[key] = copy;
    } else {
      target[key] = value;
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
