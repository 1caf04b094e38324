import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, FrameType, type ClientFrame } from '../../src/protocol/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { RawDevice } from '../support/raw-device.js';

describe('gateway: REGISTER and HELLO', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  it('registers a device, then authenticates it on the same connection', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    assert.match(creds.deviceId, /^[A-Za-z0-9_-]{22,}$/, 'device id is URL-safe and carries >= 128 bits');
    assert.ok(creds.secret.length >= 32);
    const welcome = await dev.hello(creds, { hb: 60 });
    assert.equal(welcome.hb, 60);
    assert.ok(welcome.sid.length > 0);
    assert.ok(Math.abs(welcome.now - Date.now()) < 5000);
    dev.send({ t: FrameType.PING });
    await dev.nextOf(FrameType.PONG);
    assert.equal(gw.gateway.isConnected(creds.deviceId), true);
    dev.destroy();
  });

  it('never stores the device secret in Redis', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    dev.destroy();
    const keys = await gw.rt.redis.keys(`${gw.rt.keys.prefix}*`);
    for (const key of keys) {
      const type = await gw.rt.redis.type(key);
      const dump = type === 'hash' ? JSON.stringify(await gw.rt.redis.hgetall(key)) : type === 'string' ? String(await gw.rt.redis.get(key)) : '';
      assert.ok(!dump.includes(creds.secret), `secret found in ${key}`);
    }
  });

  it('clamps the requested heartbeat into the configured bounds', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    const welcome = await dev.hello(creds, { hb: 5 });
    assert.equal(welcome.hb, 30, 'minSec default');
    dev.destroy();
    const dev2 = await RawDevice.connect(gw.port);
    assert.equal((await dev2.hello(creds)).hb, 240, 'default when not requested');
    dev2.destroy();
  });

  const failures: Array<[string, (creds: { appId: string; deviceId: string; secret: string }, dev: RawDevice) => ClientFrame, number, string]> = [
    ['a wrong signature', (c, d) => ({ ...d.helloFrame(c), sig: 'f'.repeat(64) }), CloseCode.AUTH_FAILED, 'auth_failed'],
    ['a signature made with another secret', (c, d) => d.helloFrame({ ...c, secret: 'not-the-secret' }), CloseCode.AUTH_FAILED, 'auth_failed'],
    ['a stale timestamp', (c, d) => d.helloFrame(c, { ts: Date.now() - 10 * 60_000 }), CloseCode.AUTH_FAILED, 'hello_stale'],
    ['a timestamp from the future', (c, d) => d.helloFrame(c, { ts: Date.now() + 10 * 60_000 }), CloseCode.AUTH_FAILED, 'hello_stale'],
    ['an unknown device', (c, d) => d.helloFrame({ ...c, deviceId: 'AAAAAAAAAAAAAAAAAAAAAA' }), CloseCode.AUTH_FAILED, 'auth_failed'],
    ['an unknown app', (c, d) => d.helloFrame({ ...c, appId: 'no-such-app' }), CloseCode.APP_UNKNOWN, 'app_unknown'],
    ['a short nonce', (c, d) => d.helloFrame(c, { nonce: 'short' }), CloseCode.AUTH_FAILED, 'auth_failed'],
    ['protocol version 2', (c, d) => ({ ...d.helloFrame(c), v: 2 }), CloseCode.AUTH_FAILED, 'auth_failed'],
  ];
  for (const [what, frame, code, reason] of failures) {
    it(`closes ${code} on HELLO with ${what} and counts it`, async () => {
      const setup = await RawDevice.connect(gw.port);
      const creds = await setup.register(gw.app.appId, gw.app.clientKey);
      setup.destroy();
      const before = await gw.metric('petrel_gateway_auth_failures_total', { reason });
      const dev = await RawDevice.connect(gw.port);
      dev.send(frame(creds, dev));
      assert.equal(await dev.closeCode(), code);
      assert.equal(await gw.metric('petrel_gateway_auth_failures_total', { reason }), before + 1);
    });
  }

  it('rejects a replayed HELLO (same nonce) with 4001', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    const hello = dev.helloFrame(creds);
    dev.send(hello);
    await dev.nextOf(FrameType.WELCOME);
    const attacker = await RawDevice.connect(gw.port);
    attacker.send(hello);
    assert.equal(await attacker.closeCode(), CloseCode.AUTH_FAILED);
    assert.equal(await gw.metric('petrel_gateway_auth_failures_total', { reason: 'nonce_replayed' }), 1);
    assert.equal(gw.gateway.isConnected(creds.deviceId), true, 'the replay did not replace the real session');
    dev.destroy();
  });

  it('rejects a device of another app: same answer as an unknown device', async () => {
    const other = await gw.apps.create('other app');
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(other.app.id, other.app.clientKey);
    dev.destroy();
    const dev2 = await RawDevice.connect(gw.port);
    // Correctly signed for the device, but presented under our app id.
    dev2.send(dev2.helloFrame({ ...creds, appId: gw.app.appId }));
    assert.equal(await dev2.closeCode(), CloseCode.AUTH_FAILED);
  });

  it('REGISTER with a wrong client key closes 4001; unknown or disabled app 4010', async () => {
    const a = await RawDevice.connect(gw.port);
    a.send({ t: FrameType.REGISTER, app: gw.app.appId, key: 'wrong-key' });
    assert.equal(await a.closeCode(), CloseCode.AUTH_FAILED);
    const b = await RawDevice.connect(gw.port);
    b.send({ t: FrameType.REGISTER, app: 'nope', key: 'x' });
    assert.equal(await b.closeCode(), CloseCode.APP_UNKNOWN);
    const disabled = await gw.apps.create('disabled app');
    await gw.apps.setStatus(disabled.app.id, 'disabled');
    const c = await RawDevice.connect(gw.port);
    c.send({ t: FrameType.REGISTER, app: disabled.app.id, key: disabled.app.clientKey });
    assert.equal(await c.closeCode(), CloseCode.APP_UNKNOWN);
  });

  it('gives a closed app no new sessions: HELLO for a disabled app closes 4010', async () => {
    const created = await gw.apps.create('soon disabled');
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(created.app.id, created.app.clientKey);
    dev.destroy();
    await gw.apps.setStatus(created.app.id, 'disabled');
    // The gateway caches app records (appCacheMs, 200 ms in tests): wait it out.
    await new Promise((r) => setTimeout(r, 300));
    const dev2 = await RawDevice.connect(gw.port);
    dev2.send(dev2.helloFrame(creds));
    assert.equal(await dev2.closeCode(), CloseCode.APP_UNKNOWN);
  });
});
