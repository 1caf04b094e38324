import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { AppStore } from '../../src/store/app-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

const entry = fileURLToPath(new URL('../../src/cmd/petrel.ts', import.meta.url));
const run = promisify(execFile);

describe('petrel apps (the operator CLI, as a real process)', () => {
  const prefix = uniquePrefix('apps-cli');
  const redis = createTestRedis();
  const apps = new AppStore(redis, new RedisKeys(prefix));
  after(async () => {
    await cleanupPrefix(redis, prefix);
    await redis.quit();
  });

  async function petrel(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', entry, 'apps', ...args], {
        env: { ...process.env, PETREL_REDIS_URL: testRedisUrl(), PETREL_REDIS_KEY_PREFIX: prefix },
      });
      return { code: 0, out: stdout, err: stderr };
    } catch (e) {
      const failed = e as { code: number; stdout: string; stderr: string };
      return { code: failed.code, out: failed.stdout, err: failed.stderr };
    }
  }

  /** The JSON a successful command printed; a failed one fails the test with what it said on stderr. */
  function json(result: { code: number; out: string; err: string }) {
    assert.equal(result.code, 0, `petrel apps failed: ${result.err}`);
    return JSON.parse(result.out);
  }

  it('creates, rotates, disables and lists apps in the same Redis the service reads', async () => {
    const created = json(await petrel('create', 'Corner', 'shop')) as { id: string; name: string; serverSecret: { id: string; secret: string } };
    assert.equal(created.name, 'Corner shop');
    assert.equal((await apps.appOfServerSecret(created.serverSecret.secret))?.id, created.id);

    const issued = json(await petrel('issue-secret', created.id, '--retire-others-after', '0')) as { secret: string };
    assert.equal(await apps.appOfServerSecret(created.serverSecret.secret), null, 'retired at once');
    assert.equal((await apps.appOfServerSecret(issued.secret))?.id, created.id);

    assert.equal(json(await petrel('disable', created.id)).status, 'disabled');
    const listed = json(await petrel('list')) as { apps: Array<{ id: string; status: string }> };
    assert.deepEqual(listed.apps.map((a) => [a.id, a.status]), [[created.id, 'disabled']]);
  });

  it('fails with the error code and exit status 1 on unknown apps or bad arguments, 2 on usage', async () => {
    const unknown = await petrel('show', 'nosuchapp');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /\[app_not_found\]/);
    const bad = await petrel('issue-secret', 'nosuchapp', '--retire-others-after', 'soon');
    assert.match(bad.err, /\[body_invalid\]/);
    assert.equal((await petrel('frobnicate')).code, 2);
  });
});
