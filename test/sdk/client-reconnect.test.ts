import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { isPetrelError } from '../../sdk-client/src/index.js';
import { collect, makeClient, next, sleep, SlowStore, useFakeGateway } from './client-fixture.js';
import { FakeGateway } from './fake-gateway.js';

describe('PetrelClient: reconnect policy', () => {
  const fake = useFakeGateway();

  it('reconnects with backoff after the socket is destroyed, keeping its credentials', async () => {
    const client = makeClient(fake.gw);
    await client.start();
    const first = await next(client, 'connected');
    const disconnected = next(client, 'disconnected');
    const reconnected = next(client, 'connected');
    fake.gw.connections[0]!.destroy();
    const d = await disconnected;
    assert.equal(d.willReconnect, true);
    assert.equal(d.code, undefined, 'no BYE');
    assert.ok(d.delayMs >= 0 && d.delayMs < 10, `first backoff delay is below baseMs, got ${d.delayMs}`);
    const second = await reconnected;
    assert.equal(second.deviceId, first.deviceId);
    assert.equal(fake.gw.framesOf(FrameType.REGISTER).length, 1);
    assert.equal(fake.gw.framesOf(FrameType.HELLO).length, 2);
  });

  it('grows the backoff while connections keep failing, and resets once one lasts', async () => {
    // resetAfterMs 60 s (fixture): short-lived connections do not reset the backoff.
    const client = makeClient(fake.gw, { backoff: { baseMs: 10, capMs: 1_000, resetAfterMs: 60_000 } });
    const delays = collect(client, 'disconnected');
    fake.gw.hook = (conn, frame) => {
      if (frame.t === FrameType.HELLO && fake.gw.connections.length <= 4) {
        conn.destroy();
        return true;
      }
    };
    await client.start();
    await next(client, 'connected');
    assert.equal(delays.length, 4);
    // Ceilings 10, 20, 40, 80: every delay is within its own ceiling.
    delays.forEach((d, i) => assert.ok(d.delayMs < 10 * 2 ** i, `delay ${i}: ${d.delayMs}`));

    const quick = makeClient(fake.gw, { backoff: { baseMs: 10, capMs: 1_000, resetAfterMs: 0 } });
    const quickDelays = collect(quick, 'disconnected');
    fake.gw.hook = null;
    await quick.start();
    for (let i = 0; i < 4; i++) {
      await next(quick, 'connected');
      const conn = fake.gw.connections.at(-1)!;
      const d = next(quick, 'disconnected');
      conn.destroy();
      await d;
    }
    // Each connection was authenticated for >= resetAfterMs (0): every delay starts from base.
    for (const d of quickDelays) assert.ok(d.delayMs < 10, `delay ${d.delayMs}`);
  });

  it('stops for good on 4006 (replaced)', async () => {
    const client = makeClient(fake.gw);
    await client.start();
    await next(client, 'connected');
    const disconnected = next(client, 'disconnected');
    const stopped = next(client, 'stopped');
    fake.gw.connections[0]!.bye(CloseCode.REPLACED, { reason: 'replaced' });
    assert.deepEqual(await disconnected, { code: 4006, reason: 'replaced', willReconnect: false, delayMs: 0 });
    assert.deepEqual(await stopped, { code: 4006, reason: 'replaced' });
    assert.equal(client.status, 'stopped');
    await assert.rejects(client.subscribe(['t']), (err) => isPetrelError(err, 'client_stopped'));
    await sleep(100); // ten times the base backoff: a reconnect would have happened
    assert.equal(fake.gw.connections.length, 1);
  });

  it('stops on 4010 (app unknown) during registration', async () => {
    fake.gw.hook = (conn, frame) => {
      if (frame.t === FrameType.REGISTER) {
        conn.bye(CloseCode.APP_UNKNOWN);
        return true;
      }
    };
    const client = makeClient(fake.gw);
    await client.start();
    assert.equal((await next(client, 'stopped')).code, 4010);
    assert.equal(client.deviceId, null);
  });

  it('honours the retry hint of 4007 (draining)', async () => {
    const client = makeClient(fake.gw);
    await client.start();
    await next(client, 'connected');
    const disconnected = next(client, 'disconnected');
    const reconnected = next(client, 'connected');
    const byeAt = Date.now();
    fake.gw.connections[0]!.bye(CloseCode.DRAINING, { retry: 150 });
    const d = await disconnected;
    assert.equal(d.code, 4007);
    assert.equal(d.willReconnect, true);
    assert.ok(d.delayMs >= 150 && d.delayMs < 300, `retry 150 plus jitter below min(150, 5000): ${d.delayMs}`);
    await reconnected;
    const secondConn = await fake.gw.waitForConnection(2);
    assert.ok(secondConn !== undefined && Date.now() - byeAt >= 150, 'did not come back before the hint');
  });

  it('re-registers on 4001, clearing the stored credentials first', async () => {
    const store = new SlowStore(1, { appId: 'app-test', dev: 'stale-dev', secret: 'stale', cursors: { news: 3 }, seen: ['old'] });
    const client = makeClient(fake.gw, { store });
    const disconnected = next(client, 'disconnected');
    const registered = next(client, 'registered');
    await client.start();
    // The fake gateway does not know stale-dev: HELLO fails with 4001.
    const d = await disconnected;
    assert.equal(d.code, 4001);
    assert.equal(d.willReconnect, true);
    const { deviceId } = await registered;
    assert.notEqual(deviceId, 'stale-dev');
    assert.equal(store.clears, 1);
    await next(client, 'connected');
    const hellos = fake.gw.framesOf(FrameType.HELLO);
    assert.deepEqual(hellos.map((h) => h.dev), ['stale-dev', deviceId]);
    assert.equal(hellos[1]!.cur, undefined, 'old cursors belong to the old device');
    assert.deepEqual(store.durable, { appId: 'app-test', dev: deviceId, secret: fake.gw.devices.get(deviceId), cursors: {}, seen: [] });
  });

  it('gives up on a connection that never reaches WELCOME (connectTimeoutMs)', async () => {
    fake.gw.autoWelcome = false;
    const client = makeClient(fake.gw, { connectTimeoutMs: 100 });
    const disconnected = next(client, 'disconnected');
    await client.start();
    const d = await disconnected;
    assert.equal(d.reason, 'connect_timeout');
    assert.equal(d.willReconnect, true);
    await fake.gw.waitForConnection(2);
  });

  it('treats a silent link as dead after 1.5 x hb + grace and reconnects', async () => {
    fake.gw.hb = 1;
    fake.gw.autoPong = false;
    const client = makeClient(fake.gw, { deadLinkGraceMs: 0 });
    await client.start();
    await next(client, 'connected');
    const d = await next(client, 'disconnected', 5_000);
    assert.equal(d.reason, 'heartbeat_timeout');
    assert.ok(fake.gw.framesOf(FrameType.PING).length >= 1, 'pinged before giving up');
    await fake.gw.waitForConnection(2);
  });

  it('answers a malformed server frame with BYE 4003 and reconnects', async () => {
    const client = makeClient(fake.gw);
    const errors = collect(client, 'error');
    await client.start();
    await next(client, 'connected');
    const disconnected = next(client, 'disconnected');
    fake.gw.connections[0]!.sendBytes(Buffer.from([0, 0, 0, 0])); // zero-length frame
    const { frame: bye } = await fake.gw.waitForFrame(FrameType.BYE);
    assert.equal(bye.code, 4003);
    assert.equal((await disconnected).willReconnect, true);
    assert.ok(errors.some((e) => e.code === 'protocol_violation'));
    await fake.gw.waitForConnection(2);
  });

  it('backs off when the gateway is unreachable', async () => {
    const port = fake.gw.port;
    await fake.gw.close();
    const client = makeClient(fake.gw, { port });
    const disconnected = next(client, 'disconnected');
    await client.start();
    const d = await disconnected;
    assert.equal(d.willReconnect, true);
    assert.match(d.reason ?? '', /ECONNREFUSED/);
    fake.gw = await FakeGateway.start(); // for afterEach
  });
});
