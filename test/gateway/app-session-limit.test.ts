import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { SessionHooks } from '../../src/gateway/session-hooks.js';
import { CloseCode, FrameType, type ByeFrame } from '../../src/protocol/index.js';
import { RedisKeys } from '../../src/store/keys.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/** The gateway alone: what the dispatch tier would be told does not matter here. */
const quietHooks: SessionHooks = {
  sessionOpened() {},
  sessionClosed() {},
  acked() {},
  opened() {},
  async subscribe() {},
};

const REFRESH_MS = 100;
const RETRY_SPREAD_MS = 2000;

/**
 * The per-app limit of concurrent sessions (issue #7, `gateway.limits.sessionsPerApp`):
 * exact on one gateway, shared across gateways through the counts each publishes to Redis,
 * and a gateway that stops publishing (killed, or cut off from Redis) stops counting once
 * its counts lapse.
 */
describe('gateway: concurrent sessions per app', () => {
  const started: TestGateway[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const g of started.splice(0)) await g.close();
    const redis = createTestRedis();
    for (const prefix of prefixes.splice(0)) await cleanupPrefix(redis, prefix);
    await redis.quit();
  });

  async function gateway(options: { limit: number; keyPrefix?: string; registryTtlMs?: number; deviceKey?: Buffer }): Promise<TestGateway> {
    const g = await startTestGateway({
      hooks: quietHooks,
      gateway: { limits: { connectsPerSec: 0, sessionsPerApp: options.limit, sessionsRefreshMs: REFRESH_MS, retrySpreadMs: RETRY_SPREAD_MS } },
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      ...(options.registryTtlMs === undefined ? {} : { registryTtlMs: options.registryTtlMs }),
      ...(options.deviceKey === undefined ? {} : { deviceKey: options.deviceKey }),
    });
    started.push(g);
    return g;
  }

  /** Two gateways of one cluster: one Redis key prefix, one device key. */
  async function cluster(limit: number, registryTtlMs?: number): Promise<[TestGateway, TestGateway]> {
    const keyPrefix = uniquePrefix('sessions');
    prefixes.push(keyPrefix);
    const options = { limit, keyPrefix, deviceKey: randomBytes(32), ...(registryTtlMs === undefined ? {} : { registryTtlMs }) };
    return [await gateway(options), await gateway(options)];
  }

  async function registered(g: TestGateway, app: { appId: string; clientKey: string } = g.app): Promise<DeviceCredentials> {
    const dev = await RawDevice.connect(g.port);
    const creds = await dev.register(app.appId, app.clientKey);
    dev.destroy();
    return creds;
  }

  /** HELLO on a new connection: the open device on WELCOME, else the BYE it got. */
  async function hello(g: TestGateway, creds: DeviceCredentials): Promise<RawDevice | ByeFrame> {
    const dev = await RawDevice.connect(g.port);
    dev.send(dev.helloFrame(creds));
    const frame = await dev.next();
    if (frame.t === FrameType.WELCOME) return dev;
    assert.equal(frame.t, FrameType.BYE, `expected WELCOME or BYE, got ${JSON.stringify(frame)}`);
    return frame;
  }

  async function session(g: TestGateway, creds?: DeviceCredentials): Promise<RawDevice> {
    const outcome = await hello(g, creds ?? await registered(g));
    assert.ok(outcome instanceof RawDevice, `refused: ${JSON.stringify(outcome)}`);
    return outcome;
  }

  function assertRefused(outcome: RawDevice | ByeFrame): void {
    assert.ok(!(outcome instanceof RawDevice), 'the HELLO was admitted');
    assert.equal(outcome.code, CloseCode.RATE_LIMITED);
    assert.equal(outcome.reason, 'too many sessions');
    assert.ok(outcome.retry !== undefined && outcome.retry >= 1000 && outcome.retry <= 1000 + RETRY_SPREAD_MS, `retry ${outcome.retry}`);
  }

  /** Enough refreshes for one gateway to publish and the other to read, with room for a loaded machine. */
  const settle = () => new Promise((r) => setTimeout(r, 8 * REFRESH_MS));

  it('on one gateway the K+1th HELLO of an app gets 4008 with a spread retry, other apps are not affected, and a session that ends frees its slot', async () => {
    const g = await gateway({ limit: 3 });
    const devices = [await session(g), await session(g), await session(g)];
    const fourth = await registered(g);
    assertRefused(await hello(g, fourth));
    assert.equal(await g.metric('petrel_gateway_rate_limited_total', { limit: 'sessions' }), 1);

    // Another app has a budget of its own.
    const other = await g.apps.create('other app');
    (await session(g, await registered(g, { appId: other.app.id, clientKey: other.app.clientKey }))).destroy();

    devices[0]!.destroy();
    await waitFor(async () => {
      const outcome = await hello(g, fourth);
      if (!(outcome instanceof RawDevice)) return false;
      devices[0] = outcome;
      return true;
    }, 'the slot of a closed session', 3000, 20);
    for (const d of devices) d.destroy();
  });

  it('an app\'s own maxSessions replaces the global limit, also when the global limit is off, and 0 lifts it', async () => {
    const g = await gateway({ limit: 0 });
    await g.apps.update(g.app.appId, { maxSessions: 1 });
    const only = await session(g);
    assertRefused(await hello(g, await registered(g)));

    const roomy = await g.apps.create('roomy app');
    await g.apps.update(roomy.app.id, { maxSessions: 0 });
    const keys = { appId: roomy.app.id, clientKey: roomy.app.clientKey };
    const many = [await session(g, await registered(g, keys)), await session(g, await registered(g, keys))];
    assert.equal((await g.apps.update(g.app.appId, { maxSessions: null }))?.maxSessions, undefined);
    for (const d of [only, ...many]) d.destroy();
  });

  it('a device replacing its own session takes no new place', async () => {
    const g = await gateway({ limit: 2 });
    const creds = await registered(g);
    const first = await session(g, creds);
    const other = await session(g);
    const second = await session(g, creds);
    assert.equal((await first.closedWith())?.code, CloseCode.REPLACED);
    assertRefused(await hello(g, await registered(g)));
    second.destroy();
    other.destroy();
  });

  it('across two gateways: after a refresh the second gateway refuses what the first holds, and admits again once a session there ends', async () => {
    const [a, b] = await cluster(3);
    const onA = [await session(a), await session(a)];
    const onB = await session(b, await registered(a));
    await settle();
    assertRefused(await hello(b, await registered(a)));
    assertRefused(await hello(a, await registered(a)));
    assert.equal(await b.metric('petrel_gateway_rate_limited_total', { limit: 'sessions' }), 1);

    onA[0]!.destroy();
    await settle();
    (await session(b, await registered(a))).destroy();
    onA[1]!.destroy();
    onB.destroy();
  });

  it('a gateway that stops publishing (cut off from Redis, or killed) stops counting once its counts lapse, and its counts are deleted', async () => {
    const [a, b] = await cluster(3, 1000);
    const onA = [await session(a), await session(a)];
    const onB = await session(b, await registered(b, a.app));
    await settle();
    const creds = await registered(b, a.app);
    assertRefused(await hello(b, creds));

    // From Redis's side this is a kill -9: no more refreshes, no withdrawal.
    a.rt.redis.disconnect();
    const redis = createTestRedis();
    const keys = new RedisKeys(a.rt.config.redis.keyPrefix);
    try {
      await waitFor(async () => (await hello(b, creds)) instanceof RawDevice, 'the dead gateway\'s sessions to stop counting', 5000, 100);
      await waitFor(async () => (await redis.hlen(keys.appSessions(a.app.appId))) === 1, 'the dead counter\'s field to be deleted', 3000, 50);
    } finally {
      await redis.quit();
    }
    for (const d of onA) d.destroy();
    onB.destroy();
  });

  it('a gateway stopping cleanly stops counting at the next refresh, before its counts would lapse', async () => {
    const [a, b] = await cluster(2);
    const onA = await session(a);
    const onB = await session(b, await registered(b, a.app));
    await settle();
    const creds = await registered(b, a.app);
    assertRefused(await hello(b, creds));
    await a.close();
    started.splice(started.indexOf(a), 1);
    await settle();
    (await session(b, creds)).destroy();
    onA.destroy();
    onB.destroy();
  });
});
