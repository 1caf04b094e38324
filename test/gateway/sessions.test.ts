import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Session, SessionHooks } from '../../src/gateway/session-hooks.js';
import { PetrelError } from '../../src/domain/errors.js';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { RawDevice } from '../support/raw-device.js';
import { waitFor } from '../support/wait.js';

/** Hooks that record what the gateway reports, so tests can assert on it. */
class RecordingHooks implements SessionHooks {
  readonly events: string[] = [];
  readonly acks: Array<{ dev: string; ids: readonly string[] }> = [];
  crashOnOpen = false;
  sessionOpened(s: Session): void {
    if (this.crashOnOpen) throw new Error('hook bug on open');
    this.events.push(`open ${s.deviceId}`);
  }
  sessionClosed(s: Session, code: number): void {
    this.events.push(`close ${s.deviceId} ${code}`);
  }
  acked(s: Session, ids: readonly string[]): void {
    this.acks.push({ dev: s.deviceId, ids });
  }
  opened(s: Session, id: string): void {
    if (id === 'crash-the-hook') throw new Error('hook bug');
    this.events.push(`opened ${s.deviceId} ${id}`);
  }
  async subscribe(_s: Session, topics: readonly string[]): Promise<void> {
    if (topics.includes('forbidden')) throw new PetrelError('topic_invalid');
  }
}

describe('gateway: sessions', () => {
  let gw: TestGateway;
  const hooks = new RecordingHooks();
  before(async () => {
    gw = await startTestGateway({
      hooks,
      gateway: { authDeadlineMs: 300, sendBufferBytes: 64 * 1024, heartbeat: { minSec: 1, defaultSec: 240, maxSec: 900, graceSec: 0 } },
    });
  });
  after(() => gw.close());

  async function online(): Promise<{ dev: RawDevice; deviceId: string }> {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    await dev.hello(creds);
    return { dev, deviceId: creds.deviceId };
  }

  it('hands a PUSH to a connected device and reports its ACK', async () => {
    const { dev, deviceId } = await online();
    assert.equal(gw.gateway.deliver(deviceId, { t: FrameType.PUSH, id: 'm1', ts: Date.now(), exp: Date.now() + 60_000, data: { hello: 'world' }, n: { title: 'Hi', body: 'there' } }), true);
    const push = await dev.nextOf(FrameType.PUSH);
    assert.deepEqual({ id: push.id, data: push.data, n: push.n }, { id: 'm1', data: { hello: 'world' }, n: { title: 'Hi', body: 'there' } });
    dev.send({ t: FrameType.ACK, ids: ['m1'] });
    await waitFor(() => hooks.acks.some((a) => a.dev === deviceId && a.ids.includes('m1')), 'ACK report');
    dev.send({ t: FrameType.OPENED, id: 'm1' });
    await waitFor(() => hooks.events.includes(`opened ${deviceId} m1`), 'OPENED report');
    assert.equal(gw.gateway.deliver('not-connected-device', { t: FrameType.PUSH, id: 'm2', ts: 1, exp: 2 }), false);
    dev.destroy();
    await waitFor(() => hooks.events.includes(`close ${deviceId} ${CloseCode.NORMAL}`), 'offline report');
  });

  it('answers SUB/UNSUB with SUBACK carrying the request id and the error code', async () => {
    const { dev } = await online();
    dev.send({ t: FrameType.SUB, rid: 7, topics: ['news'] });
    assert.deepEqual(await dev.nextOf(FrameType.SUBACK), { t: FrameType.SUBACK, rid: 7, ok: true });
    dev.send({ t: FrameType.SUB, rid: 'r8', topics: ['forbidden'] });
    assert.deepEqual(await dev.nextOf(FrameType.SUBACK), { t: FrameType.SUBACK, rid: 'r8', ok: false, err: 'topic_invalid' });
    dev.send({ t: FrameType.UNSUB, rid: 9, topics: ['news'] });
    assert.equal((await dev.nextOf(FrameType.SUBACK)).ok, true);
    dev.destroy();
  });

  it('replaces the older session of a device with 4006', async () => {
    const first = await RawDevice.connect(gw.port);
    const creds = await first.register(gw.app.appId, gw.app.clientKey);
    await first.hello(creds);
    const second = await RawDevice.connect(gw.port);
    await second.hello(creds);
    assert.equal(await first.closeCode(), CloseCode.REPLACED);
    assert.ok(gw.gateway.deliver(creds.deviceId, { t: FrameType.PUSH, id: 'to-new', ts: 1, exp: Date.now() + 1000 }));
    assert.equal((await second.nextOf(FrameType.PUSH)).id, 'to-new');
    second.destroy();
  });

  it('closes 4002 when no HELLO arrives before the auth deadline, even if the device PINGs', async () => {
    const dev = await RawDevice.connect(gw.port);
    dev.send({ t: FrameType.PING });
    assert.equal(await dev.closeCode(2000), CloseCode.AUTH_TIMEOUT);
  });

  it('closes 4009 after 1.5 × hb + grace without inbound frames, and any frame keeps it alive', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    const welcome = await dev.hello(creds, { hb: 1 });
    assert.equal(welcome.hb, 1);
    // Keep it alive for ~2.5 s (beyond 1.5 s) with ACKs, not PINGs: any inbound frame counts.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 500));
      dev.send({ t: FrameType.ACK, ids: [] });
    }
    assert.equal(gw.gateway.isConnected(creds.deviceId), true);
    assert.equal(await dev.closeCode(4000), CloseCode.HEARTBEAT_TIMEOUT);
  });

  it('closes a device that stops reading (slow consumer, 4005) and keeps serving others', async () => {
    const { dev, deviceId } = await online();
    const other = await online();
    dev.socket.pause(); // stop reading: the kernel buffers fill, then our send buffer
    const data = 'x'.repeat(16 * 1024);
    let sent = 0;
    while (gw.gateway.deliver(deviceId, { t: FrameType.PUSH, id: `p${sent}`, ts: 1, exp: Date.now() + 60_000, data })) {
      sent++;
      if (sent % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      assert.ok(sent < 100_000, 'never closed');
    }
    assert.equal(gw.gateway.isConnected(deviceId), false);
    assert.ok((await gw.metric('petrel_gateway_closes_total', { code: '4005' })) >= 1);
    other.dev.send({ t: FrameType.PING });
    await other.dev.nextOf(FrameType.PONG);
    // Reset, not closed: the backlog the kernel held for it (MBs on loopback) is dropped, so
    // reading again yields at most what already sat in the device's own receive buffer, and
    // no BYE (docs/protocol.md: a 4005 arrives as a reset).
    const before = dev.frames.length;
    dev.socket.resume();
    assert.equal(await dev.closedWith(5000), null);
    const pushes = dev.frames.length - before;
    assert.ok(pushes < sent / 2, `${pushes} of ${sent} PUSHes still delivered after the close`);
    dev.destroy();
    other.dev.destroy();
  });

  it('an error in a session hook closes only that connection (4003); the gateway and others carry on', async () => {
    const victim = await online();
    const other = await online();
    victim.dev.send({ t: FrameType.OPENED, id: 'crash-the-hook' });
    assert.equal(await victim.dev.closeCode(), CloseCode.PROTOCOL_ERROR);
    assert.equal(await gw.metric('petrel_gateway_protocol_errors_total', { code: 'internal' }), 1);
    other.dev.send({ t: FrameType.PING });
    await other.dev.nextOf(FrameType.PONG);
    other.dev.destroy();
  });

  it('an error in the session-opened hook closes that connection, not the process', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    hooks.crashOnOpen = true;
    try {
      dev.send(dev.helloFrame(creds));
      // WELCOME went out before the hook ran; then the connection is closed 4003.
      await dev.nextOf(FrameType.WELCOME);
      assert.equal(await dev.closeCode(), CloseCode.PROTOCOL_ERROR);
    } finally {
      hooks.crashOnOpen = false;
    }
    const { dev: other } = await online();
    other.send({ t: FrameType.PING });
    await other.nextOf(FrameType.PONG);
    other.destroy();
  });

  it('a device BYE ends its session without an answer', async () => {
    const { dev, deviceId } = await online();
    dev.send({ t: FrameType.BYE, code: 1000 });
    assert.equal(await dev.closeCode(), null);
    assert.equal(gw.gateway.isConnected(deviceId), false);
  });
});

describe('gateway: drain', () => {
  it('sends BYE 4007 to every device with retry spread over drainSpreadMs, and refuses new ones', async () => {
    const gw = await startTestGateway({ gateway: { drainSpreadMs: 5000 } });
    const devices = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const dev = await RawDevice.connect(gw.port);
        await dev.hello(await dev.register(gw.app.appId, gw.app.clientKey));
        return dev;
      }),
    );
    await gw.gateway.drain();
    const byes = await Promise.all(devices.map((d) => d.closed));
    const retries = byes.map((b) => {
      assert.equal(b?.code, CloseCode.DRAINING);
      assert.ok(b.retry !== undefined && b.retry >= 0 && b.retry <= 5000);
      return b.retry;
    });
    assert.ok(new Set(retries).size > 10, 'retry delays are spread, not identical');
    await assert.rejects(RawDevice.connect(gw.port));
    await gw.close();
  });
});
