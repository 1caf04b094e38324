import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { AppStore } from '../../src/store/app-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import { startPetrelProcess } from '../support/petrel-process.js';
import { RawDevice } from '../support/raw-device.js';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

describe('petrel processes', () => {
  it('petrel gateway: a device authenticates; SIGTERM drains it with BYE 4007 and the process exits 0', async () => {
    const prefix = uniquePrefix('proc');
    const redis = createTestRedis();
    const created = await new AppStore(redis, new RedisKeys(prefix)).create('process test');
    const gw = await startPetrelProcess('gateway', {
      PETREL_REDIS_URL: testRedisUrl(),
      PETREL_REDIS_KEY_PREFIX: prefix,
      PETREL_DEVICE_KEY: randomBytes(32).toString('base64'),
      PETREL_GATEWAY_HOST: '127.0.0.1',
      PETREL_GATEWAY_PORT: '0',
    });
    try {
      const dev = await RawDevice.connect(gw.port('tcp'));
      await dev.hello(await dev.register(created.app.id, created.app.clientKey));
      dev.send({ t: FrameType.PING });
      await dev.nextOf(FrameType.PONG);
      gw.child.kill('SIGTERM');
      const bye = await dev.closed;
      assert.equal(bye?.code, CloseCode.DRAINING);
      assert.ok(bye.retry !== undefined && bye.retry >= 0 && bye.retry <= 30_000, 'retry within the default drain spread');
      assert.equal(await gw.exited, 0);
    } finally {
      gw.child.kill('SIGKILL');
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });

  it('petrel all: prints where it listens, writes the demo app, serves health, stops on SIGINT', async () => {
    const prefix = uniquePrefix('all');
    const dataDir = mkdtempSync(join(tmpdir(), 'petrel-all-'));
    const all = await startPetrelProcess('all', {
      PETREL_REDIS_URL: testRedisUrl(),
      PETREL_REDIS_KEY_PREFIX: prefix,
      PETREL_DATA_DIR: dataDir,
      PETREL_GATEWAY_HOST: '127.0.0.1',
      PETREL_GATEWAY_PORT: '0',
      PETREL_HTTP_HOST: '127.0.0.1',
      PETREL_HTTP_PORT: '0',
    });
    const redis = createTestRedis();
    try {
      const demo = JSON.parse(readFileSync(join(dataDir, 'demo-app.json'), 'utf8')) as { appId: string; clientKey: string; serverSecret: string };
      assert.deepEqual(Object.keys(demo).sort(), ['appId', 'clientKey', 'serverSecret']);
      assert.ok(all.output().includes(demo.appId) && all.output().includes(demo.serverSecret), 'banner shows the demo credentials');
      assert.ok(existsSync(join(dataDir, 'device-key')), 'a device key was created for the all-in-one mode');
      const health = await fetch(`http://127.0.0.1:${all.port('http')}/healthz`);
      assert.equal(health.status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${all.port('http')}/readyz`)).status, 200);
      assert.match(await (await fetch(`http://127.0.0.1:${all.port('http')}/metrics`)).text(), /petrel_gateway_connections/);
      const dev = await RawDevice.connect(all.port('tcp'));
      await dev.hello(await dev.register(demo.appId, demo.clientKey));
      dev.destroy();
      all.child.kill('SIGINT');
      assert.equal(await all.exited, 0);
    } finally {
      all.child.kill('SIGKILL');
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });
});
