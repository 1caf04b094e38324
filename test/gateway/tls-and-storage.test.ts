import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { startTestGateway } from '../support/gateway-fixture.js';
import { RawDevice } from '../support/raw-device.js';
import { spawnRedis } from '../support/spawn-redis.js';
import { selfSignedCert } from '../support/tls-cert.js';

describe('gateway: TLS', () => {
  it('speaks the protocol over TLS with a verified certificate', async () => {
    const { certFile, keyFile, cert } = selfSignedCert();
    const gw = await startTestGateway({ gateway: { tls: { certFile, keyFile } } });
    try {
      const dev = await RawDevice.connect(gw.port, { tls: { ca: cert, servername: 'localhost' } });
      const creds = await dev.register(gw.app.appId, gw.app.clientKey);
      await dev.hello(creds);
      dev.send({ t: FrameType.PING });
      await dev.nextOf(FrameType.PONG);
      dev.destroy();
      await assert.rejects(RawDevice.connect(gw.port, { tls: { servername: 'localhost' } }), 'an untrusted certificate is refused by a verifying client');
    } finally {
      await gw.close();
    }
  });
});

describe('gateway: storage outage', () => {
  it('answers HELLO with 4008 and a retry hint while Redis is down, and recovers after', async () => {
    const redis = await spawnRedis();
    const gw = await startTestGateway({ redisUrl: redis.url });
    try {
      const setup = await RawDevice.connect(gw.port);
      const creds = await setup.register(gw.app.appId, gw.app.clientKey);
      setup.destroy();
      // AOF fsyncs every second: let the registration reach disk before the crash.
      await new Promise((r) => setTimeout(r, 1200));
      await redis.kill9();
      const dev = await RawDevice.connect(gw.port);
      dev.send(dev.helloFrame(creds));
      const bye = await Promise.race([dev.closed, new Promise<null>((r) => setTimeout(() => r(null), 8000))]);
      assert.equal(bye?.code, CloseCode.RATE_LIMITED);
      assert.equal(bye.reason, 'storage_unavailable');
      assert.ok(bye.retry !== undefined && bye.retry >= 1000 && bye.retry <= 5000);
      assert.ok((await gw.metric('petrel_gateway_auth_failures_total', { reason: 'storage_unavailable' })) >= 1);
      await redis.restart();
      // ioredis reconnects on its own; the device's next attempt succeeds.
      let welcomed = false;
      for (let attempt = 0; attempt < 30 && !welcomed; attempt++) {
        const again = await RawDevice.connect(gw.port);
        again.send(again.helloFrame(creds));
        const frame = await again.next(5000).catch(() => null);
        welcomed = frame?.t === FrameType.WELCOME;
        again.destroy();
        if (!welcomed) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(welcomed, 'device authenticated after Redis came back');
    } finally {
      await gw.close();
      await redis.stop();
    }
  });
});
