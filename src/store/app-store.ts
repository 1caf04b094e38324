import { createHash, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { App, ServerSecretInfo } from '../domain/app.js';
import { newAppId, newSecret } from '../domain/ids.js';
import type { RedisKeys } from './keys.js';
import { pipelineReplies } from './redis.js';

export interface IssuedSecret extends ServerSecretInfo {
  /** The bearer token itself: returned once, only its SHA-256 is stored. */
  secret: string;
}

export interface CreatedApp {
  app: App;
  /** The app's first server secret (returned once). */
  serverSecret: string;
  secretId: string;
}

export interface AppChanges {
  name?: string;
  status?: App['status'];
  /** null: back to the gateways' `limits.sessionsPerApp`. */
  maxSessions?: number | null;
}

interface StoredSecret {
  hash: string;
  createdAt: number;
  expiresAt: number | null;
}

/**
 * Apps (tenants) and their server secrets. An app has any number of server secrets so
 * that one can be rotated without downtime: a new secret is issued, the old ones keep
 * working for an overlap window, then lapse by themselves (their index keys expire).
 * Secrets are bearer tokens of 256 random bits, so a fast SHA-256 at rest is enough:
 * nobody brute-forces them, and lookups stay cheap.
 */
export class AppStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async create(name: string, ids: { appId?: string; clientKey?: string } = {}): Promise<CreatedApp> {
    const app: App = {
      id: ids.appId ?? newAppId(),
      name,
      clientKey: ids.clientKey ?? newSecret().slice(0, 24),
      status: 'active',
      createdAt: Date.now(),
    };
    const secret = newSecret();
    const info = secretInfo(secret, app.createdAt);
    // One slot per step (app:{A} and app-secrets:{A} share a hash tag); the bearer index
    // is written last, so a secret works only once it is on record.
    await this.redis
      .multi()
      .hset(this.keys.app(app.id), { name: app.name, clientKey: app.clientKey, status: app.status, createdAt: app.createdAt })
      .hset(this.keys.appSecrets(app.id), info.id, JSON.stringify(info.stored))
      .exec();
    await this.redis.set(this.keys.serverSecret(info.stored.hash), app.id);
    await this.redis.sadd(this.keys.apps(), app.id);
    return { app, serverSecret: secret, secretId: info.id };
  }

  async get(appId: string): Promise<App | null> {
    return appOf(appId, await this.redis.hgetall(this.keys.app(appId)));
  }

  /** Every app, oldest first. Tenants number in the thousands at most: one pipeline. */
  async list(): Promise<App[]> {
    const ids = await this.redis.smembers(this.keys.apps());
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.app(id));
    const hashes = await pipelineReplies(pipeline, ids.length);
    const apps: App[] = [];
    hashes.forEach((hash, i) => {
      const app = appOf(ids[i]!, hash as Record<string, string>);
      if (app) apps.push(app);
    });
    return apps.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Renames, enables/disables an app or sets its session limit; null when there is no such app. */
  async update(appId: string, changes: AppChanges): Promise<App | null> {
    // Field, value pairs; an empty value removes the field (no field of ours is ever '').
    const fields: string[] = [];
    if (changes.name !== undefined) fields.push('name', changes.name);
    if (changes.status !== undefined) fields.push('status', changes.status);
    if (changes.maxSessions !== undefined) fields.push('maxSessions', changes.maxSessions === null ? '' : String(changes.maxSessions));
    if (fields.length > 0) {
      // Only if the app exists, so a typo does not create a half app.
      const updated = await this.redis.eval(UPDATE_APP_1, 1, this.keys.app(appId), ...fields);
      if (updated !== 1) return null;
    }
    return this.get(appId);
  }

  async setStatus(appId: string, status: App['status']): Promise<boolean> {
    return (await this.update(appId, { status })) !== null;
  }

  /**
   * The active app a bearer server secret belongs to, or null. The secret identifies the
   * app on its own (app servers send one header), through an index by the secret's hash
   * whose key expires when the secret is retired.
   */
  async appOfServerSecret(presented: string): Promise<App | null> {
    const appId = await this.redis.get(this.keys.serverSecret(hashSecret(presented)));
    if (appId === null) return null;
    const app = await this.get(appId);
    return app && app.status === 'active' ? app : null;
  }

  /**
   * Issues a new server secret. With `retireOthersAfterMs`, every other secret of the app
   * stops working that long from now (0: at once); without it they stay valid.
   */
  async issueServerSecret(appId: string, options: { retireOthersAfterMs?: number } = {}, now = Date.now()): Promise<IssuedSecret | null> {
    if (!(await this.get(appId))) return null;
    await this.adoptLegacySecret(appId);
    const secret = newSecret();
    const info = secretInfo(secret, now);
    const retireAt = options.retireOthersAfterMs === undefined ? '' : String(now + options.retireOthersAfterMs);
    // Recording the new secret and retiring the others is one script on the app's secrets
    // hash, so concurrent rotations cannot retire each other's new secret.
    const retired = (await this.redis.eval(ISSUE_SECRET_1, 1, this.keys.appSecrets(appId), info.id, JSON.stringify(info.stored), retireAt)) as string[];
    await this.redis.set(this.keys.serverSecret(info.stored.hash), appId);
    if (retired.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const hash of retired) pipeline.pexpireat(this.keys.serverSecret(hash), Number(retireAt));
      await pipeline.exec();
    }
    return { secret, id: info.id, createdAt: now, expiresAt: null };
  }

  /**
   * Records a secret minted elsewhere (the demo credentials saved by an earlier start).
   * Idempotent: the id is derived from the secret's hash.
   */
  async adoptServerSecret(appId: string, secret: string, now = Date.now()): Promise<void> {
    const info = secretInfo(secret, now);
    const added = await this.redis.hsetnx(this.keys.appSecrets(appId), info.id, JSON.stringify(info.stored));
    if (added === 1) await this.redis.set(this.keys.serverSecret(info.stored.hash), appId);
  }

  /** Live server secrets of an app (id and dates, never the secret); lapsed ones are pruned. */
  async serverSecrets(appId: string, now = Date.now()): Promise<ServerSecretInfo[]> {
    await this.adoptLegacySecret(appId);
    const entries = await this.redis.hgetall(this.keys.appSecrets(appId));
    const live: ServerSecretInfo[] = [];
    const lapsed: string[] = [];
    for (const [id, json] of Object.entries(entries)) {
      const stored = JSON.parse(json) as StoredSecret;
      if (stored.expiresAt !== null && stored.expiresAt <= now) lapsed.push(id);
      else live.push({ id, createdAt: stored.createdAt, expiresAt: stored.expiresAt });
    }
    if (lapsed.length > 0) await this.redis.hdel(this.keys.appSecrets(appId), ...lapsed);
    return live.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Revokes one server secret at once; false when the app has no such secret. */
  async revokeServerSecret(appId: string, secretId: string): Promise<boolean> {
    const json = await this.redis.hget(this.keys.appSecrets(appId), secretId);
    if (json === null) return false;
    const stored = JSON.parse(json) as StoredSecret;
    // The bearer index first: once this returns, the secret authenticates nothing.
    await this.redis.del(this.keys.serverSecret(stored.hash));
    await this.redis.hdel(this.keys.appSecrets(appId), secretId);
    return true;
  }

  /**
   * Apps created before secrets could rotate kept one hash in the app hash
   * (`serverSecretHash`): moved into the secrets hash, so it can be listed, retired and
   * revoked like any other. Idempotent.
   */
  private async adoptLegacySecret(appId: string): Promise<void> {
    const [hash, createdAt] = await this.redis.hmget(this.keys.app(appId), 'serverSecretHash', 'createdAt');
    if (!hash) return;
    const stored: StoredSecret = { hash, createdAt: Number(createdAt ?? 0), expiresAt: null };
    await this.redis.multi().hsetnx(this.keys.appSecrets(appId), secretIdOf(hash), JSON.stringify(stored)).hdel(this.keys.app(appId), 'serverSecretHash').exec();
  }

  async verifyServerSecret(appId: string, presented: string): Promise<boolean> {
    const owner = await this.redis.get(this.keys.serverSecret(hashSecret(presented)));
    return owner !== null && sameCredential(owner, appId);
  }

  /**
   * The key an app's receipts are signed with (HMAC, README "Receipts"), created on first
   * use. Kept as is, not hashed: signing needs the key itself. Null for an unknown app
   * (HSETNX only on an existing app, so a stray call does not create a half app).
   */
  async receiptSecret(appId: string): Promise<string | null> {
    const secret = await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 0 then return false end redis.call('HSETNX', KEYS[1], 'receiptSecret', ARGV[1]) return redis.call('HGET', KEYS[1], 'receiptSecret')",
      1, this.keys.app(appId), newSecret(),
    );
    return typeof secret === 'string' ? secret : null;
  }
}

function appOf(id: string, h: Record<string, string>): App | null {
  if (!h['clientKey']) return null;
  const app: App = {
    id,
    name: h['name'] ?? '',
    clientKey: h['clientKey'],
    status: h['status'] === 'disabled' ? 'disabled' : 'active',
    createdAt: Number(h['createdAt'] ?? 0),
  };
  return h['maxSessions'] ? { ...app, maxSessions: Number(h['maxSessions']) } : app;
}

/**
 * KEYS[1] app hash. ARGV field, value, …: HSET each, or HDEL when the value is ''.
 * Returns 0 (and writes nothing) when the app does not exist.
 */
const UPDATE_APP_1 = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`;

/** A secret's public id is a prefix of its hash: stable, and says nothing about the secret. */
function secretIdOf(hash: string): string {
  return `sk_${hash.slice(0, 12)}`;
}

function secretInfo(secret: string, now: number): { id: string; stored: StoredSecret } {
  const hash = hashSecret(secret);
  return { id: secretIdOf(hash), stored: { hash, createdAt: now, expiresAt: null } };
}

/**
 * issue_secret_1 — KEYS[1] an app's secrets hash; ARGV[1] new secret id, ARGV[2] its JSON,
 * ARGV[3] retire the others at (unix ms; '' to keep them). Records the new secret and
 * stamps the retirement on every other one not already retiring sooner; returns the
 * hashes whose bearer index must expire then.
 */
const ISSUE_SECRET_1 = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local hashes = {}
if ARGV[3] == '' then return hashes end
local at = tonumber(ARGV[3])
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] then
    local info = cjson.decode(entries[i + 1])
    if info.expiresAt == cjson.null or info.expiresAt == nil or info.expiresAt > at then
      info.expiresAt = at
      redis.call('HSET', KEYS[1], entries[i], cjson.encode(info))
      hashes[#hashes + 1] = info.hash
    end
  end
end
return hashes
`;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time string comparison of credentials (client keys, secret hashes). */
export function sameCredential(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
