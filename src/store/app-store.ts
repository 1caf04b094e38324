import { createHash, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { App } from '../domain/app.js';
import { newAppId, newSecret } from '../domain/ids.js';
import type { RedisKeys } from './keys.js';

export interface CreatedApp {
  app: App;
  /** Returned once at creation; only its SHA-256 is stored. */
  serverSecret: string;
}

/**
 * Apps (tenants). Server secrets are bearer tokens of high entropy, so a fast SHA-256 at
 * rest is enough: nobody can brute-force 256 random bits, and lookups stay cheap.
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
    const serverSecret = newSecret();
    const secretHash = hashSecret(serverSecret);
    await this.redis
      .multi()
      .hset(this.keys.app(app.id), {
        name: app.name,
        clientKey: app.clientKey,
        status: app.status,
        createdAt: app.createdAt,
        serverSecretHash: secretHash,
      })
      .set(this.keys.serverSecret(secretHash), app.id)
      .sadd(this.keys.apps(), app.id)
      .exec();
    return { app, serverSecret };
  }

  async get(appId: string): Promise<App | null> {
    const h = await this.redis.hgetall(this.keys.app(appId));
    if (!h['clientKey']) return null;
    return {
      id: appId,
      name: h['name'] ?? '',
      clientKey: h['clientKey'],
      status: h['status'] === 'disabled' ? 'disabled' : 'active',
      createdAt: Number(h['createdAt'] ?? 0),
    };
  }

  async setStatus(appId: string, status: App['status']): Promise<boolean> {
    const key = this.keys.app(appId);
    // HSET only if the app exists, so a typo does not create a half app.
    const updated = await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'status', ARGV[1]) return 1 end return 0",
      1, key, status,
    );
    return updated === 1;
  }

  /**
   * The active app a bearer server secret belongs to, or null. The secret identifies the
   * app on its own (app servers send one header), through an index by the secret's hash.
   */
  async appOfServerSecret(presented: string): Promise<App | null> {
    const appId = await this.redis.get(this.keys.serverSecret(hashSecret(presented)));
    if (appId === null) return null;
    const app = await this.get(appId);
    return app && app.status === 'active' ? app : null;
  }

  /** Records the bearer index of a secret created before the index existed (idempotent). */
  async indexServerSecret(appId: string, secret: string): Promise<void> {
    if (await this.verifyServerSecret(appId, secret)) await this.redis.set(this.keys.serverSecret(hashSecret(secret)), appId);
  }

  async verifyServerSecret(appId: string, presented: string): Promise<boolean> {
    const stored = await this.redis.hget(this.keys.app(appId), 'serverSecretHash');
    return stored !== null && sameCredential(stored, hashSecret(presented));
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

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time string comparison of credentials (client keys, secret hashes). */
export function sameCredential(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
