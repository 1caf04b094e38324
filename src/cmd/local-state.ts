import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PetrelConfig } from '../config/schema.js';
import { parseDeviceKey } from '../domain/device-secret.js';
import { ConfigError } from '../domain/errors.js';
import { AppStore } from '../store/app-store.js';
import type { Runtime } from './runtime.js';

/**
 * The server key device secrets are derived from: from config (PETREL_DEVICE_KEY), else
 * from `<dataDir>/device-key`. Only the all-in-one mode creates that file, so a
 * production gateway without a configured key fails at start instead of silently using a
 * key no other gateway shares (which would make every device fail auth there).
 */
export function resolveDeviceKey(config: PetrelConfig, createIfMissing: boolean): Buffer {
  if (config.auth.deviceKey) {
    const key = parseDeviceKey(config.auth.deviceKey);
    if (!key) throw new ConfigError('auth.deviceKey must be base64 of at least 32 bytes');
    return key;
  }
  const file = join(config.dataDir, 'device-key');
  if (existsSync(file)) {
    const key = parseDeviceKey(readFileSync(file, 'utf8').trim());
    if (!key) throw new ConfigError(`${file} does not hold base64 of at least 32 bytes`);
    return key;
  }
  if (!createIfMissing) {
    throw new ConfigError('no device key: set PETREL_DEVICE_KEY (base64, >= 32 bytes) identically on every gateway');
  }
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600 });
  return key;
}

/**
 * The admin API's token: from config (PETREL_ADMIN_TOKEN), else `<dataDir>/admin-token`,
 * which only the all-in-one mode creates. Null: the admin API stays off.
 */
export function resolveAdminToken(config: PetrelConfig, createIfMissing: boolean): string | null {
  if (config.admin.token) return config.admin.token;
  const file = join(config.dataDir, 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim() || null;
  if (!createIfMissing) return null;
  mkdirSync(config.dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

export interface DemoCredentials {
  appId: string;
  clientKey: string;
  serverSecret: string;
}

/**
 * First start of the all-in-one mode: create a demo app and write its credentials to
 * `<dataDir>/demo-app.json` so a newcomer can connect a device and send at once. Later
 * starts reuse it while the app still exists in Redis.
 */
export async function ensureDemoApp(rt: Runtime): Promise<DemoCredentials> {
  const file = join(rt.config.dataDir, 'demo-app.json');
  const apps = new AppStore(rt.redis, rt.keys);
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as DemoCredentials;
    if (await apps.get(saved.appId)) {
      if (await apps.verifyServerSecret(saved.appId, saved.serverSecret)) return saved;
      // A demo made before secrets could rotate: its secret is adopted. One revoked or
      // retired since is not brought back: the demo gets a new one instead.
      if ((await apps.serverSecrets(saved.appId)).length === 0) {
        await apps.adoptServerSecret(saved.appId, saved.serverSecret);
        return saved;
      }
      const issued = await apps.issueServerSecret(saved.appId);
      if (issued) return saveDemo(file, { ...saved, serverSecret: issued.secret });
    }
  }
  const created = await apps.create('Demo app');
  mkdirSync(rt.config.dataDir, { recursive: true });
  return saveDemo(file, { appId: created.app.id, clientKey: created.app.clientKey, serverSecret: created.serverSecret });
}

function saveDemo(file: string, creds: DemoCredentials): DemoCredentials {
  writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  return creds;
}
