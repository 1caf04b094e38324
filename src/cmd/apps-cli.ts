import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { appName, appParams, issueSecretBody, secretParams } from '../api/app-schema.js';
import type { PetrelConfig } from '../config/schema.js';
import { validate } from '../api/validate.js';
import { PetrelError } from '../domain/errors.js';
import { AppStore } from '../store/app-store.js';
import { RedisKeys } from '../store/keys.js';

export const appsUsage = `usage: petrel apps <command> [--config file.json]

  list                                   every app, oldest first
  create <name>                          a new app; prints its client key and first server secret
  show <appId>                           an app and its server secrets (ids and dates)
  rename <appId> <name>
  disable <appId> | enable <appId>       a disabled app's devices and servers are refused
  issue-secret <appId> [--retire-others-after <seconds>]
                                         a new server secret; with the option, the others
                                         stop working that many seconds from now (rotation)
  revoke-secret <appId> <secretId>       stops one server secret at once

Talks to Redis directly (PETREL_REDIS_URL / config), like the admin API (/v1/admin) does.
Prints JSON.`;

/**
 * `petrel apps …`: the operator's command line for apps and their credentials. The same
 * AppStore and the same validation as the admin API, so both behave alike.
 */
export async function appsCommand(argv: string[], config: PetrelConfig, redis: Redis): Promise<unknown> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'retire-others-after': { type: 'string' }, config: { type: 'string' } },
  });
  const [command, first, second] = positionals;
  const apps = new AppStore(redis, new RedisKeys(config.redis.keyPrefix));
  const appId = () => validate(appParams, { appId: first }).appId;
  const found = <T>(value: T | null, what: 'app_not_found' | 'secret_not_found' = 'app_not_found'): T => {
    if (value === null) throw new PetrelError(what);
    return value;
  };
  switch (command) {
    case 'list':
      return { apps: await apps.list() };
    case 'create': {
      const created = await apps.create(validate(appName, positionals.slice(1).join(' ')));
      return { ...created.app, serverSecret: { id: created.secretId, secret: created.serverSecret } };
    }
    case 'show': {
      const app = found(await apps.get(appId()));
      return { ...app, serverSecrets: await apps.serverSecrets(app.id) };
    }
    case 'rename':
      return found(await apps.update(appId(), { name: validate(appName, positionals.slice(2).join(' ')) }));
    case 'disable':
    case 'enable':
      return found(await apps.update(appId(), { status: command === 'disable' ? 'disabled' : 'active' }));
    case 'issue-secret': {
      const after = values['retire-others-after'];
      const { retireOthersAfterSec } = validate(issueSecretBody, after === undefined ? {} : { retireOthersAfterSec: Number(after) });
      return found(await apps.issueServerSecret(appId(), retireOthersAfterSec === undefined ? {} : { retireOthersAfterMs: retireOthersAfterSec * 1000 }));
    }
    case 'revoke-secret': {
      const p = validate(secretParams, { appId: first, secretId: second });
      if (!(await apps.revokeServerSecret(p.appId, p.secretId))) throw new PetrelError('secret_not_found');
      return { revoked: p.secretId };
    }
    default:
      throw new UsageError();
  }
}

export class UsageError extends Error {}
