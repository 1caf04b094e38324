import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { CloseCode, FrameType, WireCodec } from '../../src/protocol/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { RawDevice } from '../support/raw-device.js';
import { waitFor } from '../support/wait.js';

/**
 * The gateway's abuse limits (issue #7 item 3): connects per second per gateway, frames
 * and bytes per connection, REGISTERs per source address. Over each: BYE 4008 with a
 * `retry`, a metric, and every other connection carries on.
 */
describe('gateway abuse limits: 4008 with a spread retry, others unharmed', () => {
  let gw: TestGateway | null = null;
  afterEach(async () => {
    await gw?.close();
    gw = null;
  });

  /** A registered, authenticated device on the gateway. */
  async function session(g: TestGateway): Promise<RawDevice> {
    const dev = await RawDevice.connect(g.port);
    await dev.hello(await dev.register(g.app.appId, g.app.clientKey));
    return dev;
  }

  const RETRY_SPREAD_MS = 2000;
  function assertRetry(retry: number | undefined, atLeastMs = 1000): void {
    assert.ok(retry !== undefined && retry >= atLeastMs && retry <= atLeastMs + RETRY_SPREAD_MS + 60_000, `retry ${retry}`);
  }

  it('a connection sending more frames than its share per second gets 4008 "too many frames"', async () => {
    gw = await startTestGateway({ gateway: { limits: { connectsPerSec: 0, framesPerSec: 20, bytesPerSec: 0, registrationsPerMinute: 0, retrySpreadMs: RETRY_SPREAD_MS } } });
    const bystander = await session(gw);
    const flooder = await session(gw);
    for (let i = 0; i < 40; i++) flooder.send({ t: FrameType.PING });
    const bye = await flooder.closedWith();
    assert.equal(bye?.code, CloseCode.RATE_LIMITED);
    assert.equal(bye?.reason, 'too many frames');
    assertRetry(bye?.retry);
    assert.equal(await gw.metric('petrel_gateway_rate_limited_total', { limit: 'frames' }), 1);
    bystander.send({ t: FrameType.PING });
    await bystander.nextOf(FrameType.PONG);
    bystander.destroy();
  });

  it('ACKs answering PUSHes do not count against the frame share: a device ACKing 200 PUSHes one by one stays', async () => {
    gw = await startTestGateway({ gateway: { limits: { connectsPerSec: 0, framesPerSec: 20, bytesPerSec: 0, registrationsPerMinute: 0, retrySpreadMs: RETRY_SPREAD_MS } } });
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    await dev.hello(creds);
    const { deviceId } = creds;
    for (let i = 0; i < 200; i++) {
      assert.ok(gw.gateway.deliver(deviceId, { t: FrameType.PUSH, id: `m${i}`, ts: 1, exp: Date.now() + 60_000 }), `PUSH ${i} delivered`);
      dev.send({ t: FrameType.ACK, ids: [(await dev.nextOf(FrameType.PUSH)).id] });
    }
    dev.send({ t: FrameType.PING });
    await dev.nextOf(FrameType.PONG);
    assert.equal(await gw.metric('petrel_gateway_rate_limited_total', { limit: 'frames' }), 0);
    dev.destroy();
  });

  it('a connection sending more bytes than its share per second gets 4008 "too many bytes", before they are decoded', async () => {
    gw = await startTestGateway({ gateway: { limits: { connectsPerSec: 0, framesPerSec: 0, bytesPerSec: 2048, registrationsPerMinute: 0, retrySpreadMs: RETRY_SPREAD_MS } } });
    const flooder = await session(gw);
    const ping = new WireCodec().encode({ t: FrameType.PING });
    flooder.sendBytes(Buffer.concat(Array.from({ length: Math.ceil(3000 / ping.length) }, () => ping)));
    const bye = await flooder.closedWith();
    assert.equal(bye?.code, CloseCode.RATE_LIMITED);
    assert.equal(bye?.reason, 'too many bytes');
    assertRetry(bye?.retry);
  });

  it('past connectsPerSec the gateway answers new sockets with 4008 at once, and admits again a second later', async () => {
    gw = await startTestGateway({ gateway: { limits: { connectsPerSec: 5, framesPerSec: 0, bytesPerSec: 0, registrationsPerMinute: 0, retrySpreadMs: RETRY_SPREAD_MS } } });
    const g = gw;
    const devices = await Promise.all(Array.from({ length: 12 }, () => RawDevice.connect(g.port)));
    // The admitted ones stay open waiting for HELLO; the others are told to come back.
    const outcomes = await Promise.all(devices.map((d) => d.closedWith(500).then((bye) => bye, () => 'open' as const)));
    const refused = outcomes.filter((o) => o !== 'open');
    assert.ok(refused.length >= 3 && refused.length <= 7, `refused ${refused.length} of 12`);
    for (const bye of refused) {
      assert.equal(bye?.code, CloseCode.RATE_LIMITED);
      assert.equal(bye?.reason, 'too many connections');
      assertRetry(bye?.retry);
    }
    assert.equal(await g.metric('petrel_gateway_rate_limited_total', { limit: 'connects' }), refused.length);
    for (const d of devices) d.destroy();
    await new Promise((r) => setTimeout(r, 1100));
    (await session(g)).destroy();
  });

  it('a socket refused at admission is let go once its device closes: refusals keep no file descriptors', async () => {
    gw = await startTestGateway({ gateway: { limits: { connectsPerSec: 1, framesPerSec: 0, bytesPerSec: 0, registrationsPerMinute: 0, retrySpreadMs: RETRY_SPREAD_MS } } });
    const g = gw;
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    // As the SDK does, each device writes its first frame before the BYE can arrive: those
    // unread bytes were what kept a refused socket from ever seeing the device's FIN.
    const devices = await Promise.all(Array.from({ length: 40 }, () => RawDevice.connect(g.port)));
    for (const d of devices) d.sendBytes(new WireCodec().encode({ t: FrameType.PING }));
    const outcomes = await Promise.all(devices.map((d) => d.closedWith(500).then((bye) => bye, () => 'open' as const)));
    assert.ok(outcomes.filter((o) => o !== 'open').length >= 35, 'most were refused');
    for (const d of devices) d.destroy();
    // The gateway's ends of these sockets live in this process too: all of them must go.
    await waitFor(() => openFiles() <= before + 2, 'the refused sockets to be closed on the gateway side', 2000, 20).catch(() => {});
    assert.ok(openFiles() <= before + 2, `open files ${before} before, ${openFiles()} after 40 connects of which most were refused`);
  });

  it('REGISTERs from one address beyond the per-minute budget get 4008 with the wait in retry', async () => {
    gw = await startTestGateway({ gateway: { limits: { connectsPerSec: 0, framesPerSec: 0, bytesPerSec: 0, registrationsPerMinute: 3, retrySpreadMs: RETRY_SPREAD_MS } } });
    for (let i = 0; i < 3; i++) {
      const dev = await RawDevice.connect(gw.port);
      await dev.register(gw.app.appId, gw.app.clientKey);
      dev.destroy();
    }
    const fourth = await RawDevice.connect(gw.port);
    fourth.send({ t: FrameType.REGISTER, app: gw.app.appId, key: gw.app.clientKey });
    const bye = await fourth.closedWith();
    assert.equal(bye?.code, CloseCode.RATE_LIMITED);
    assert.equal(bye?.reason, 'rate_limited');
    // The budget refills over the minute: the wait until then is part of retry.
    assertRetry(bye?.retry, 1000 + 10_000);
    assert.equal(await gw.metric('petrel_gateway_rate_limited_total', { limit: 'registrations' }), 1);
  });
});
