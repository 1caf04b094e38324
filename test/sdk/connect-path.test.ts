import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FrameType } from '../../src/protocol/index.js';
import { NONCE_BYTES, NoncePool, helloNonce } from '../../sdk-client/src/nonce.js';
import { selfSignedCert } from '../support/tls-cert.js';
import { closeAll, makeClient, next, SlowStore, useFakeGateway } from './client-fixture.js';
import { FakeGateway } from './fake-gateway.js';

// The connect path is tuned for processes that connect thousands of devices (see
// DeviceLink, DeviceSession, Heartbeat); these pin what that tuning must not lose.

describe('connecting with stored credentials', () => {
  const fake = useFakeGateway();

  it('saves nothing on connect or on a close with nothing new, and sends one HELLO without cur', async () => {
    fake.gw.devices.set('dev-stored', 'secret-stored');
    const store = new SlowStore(0, { appId: 'app-test', dev: 'dev-stored', secret: 'secret-stored', cursors: {}, seen: [] });
    const client = makeClient(fake.gw, { store });
    await client.start();
    const connected = await next(client, 'connected');
    assert.equal(connected.deviceId, 'dev-stored');
    assert.equal(store.saves, 0, 'state unchanged, so no save before HELLO');
    const conn = fake.gw.connections[0]!;
    assert.deepEqual(conn.frames.map((f) => f.t), [FrameType.HELLO]);
    const hello = fake.gw.framesOf(FrameType.HELLO)[0]!;
    assert.equal(hello.cur, undefined, 'no cursors: the field is omitted');
    await client.close();
    assert.equal(store.saves, 0);
  });
});

describe('TLS', () => {
  let gw: FakeGateway;
  let cert: Buffer;
  before(async () => {
    const made = selfSignedCert();
    cert = made.cert;
    gw = await FakeGateway.start({ tls: { cert: made.cert, key: readFileSync(made.keyFile) } });
  });
  after(async () => {
    await closeAll();
    await gw.close();
  });

  it('registers, authenticates, receives and ACKs over TLS', async () => {
    const client = makeClient(gw, { tls: { ca: cert } });
    const notes: string[] = [];
    client.on('notification', (m) => notes.push(m.id));
    await client.start();
    await next(client, 'registered');
    await next(client, 'connected');
    const conn = gw.connections[0]!;
    conn.send({ t: FrameType.PUSH, id: 'tls-1', ts: Date.now(), exp: Date.now() + 60_000, n: { title: 'hi' } });
    const ack = await gw.waitForFrame(FrameType.ACK);
    assert.deepEqual(ack.frame.ids, ['tls-1']);
    assert.deepEqual(notes, ['tls-1']);
    await client.close();
    assert.deepEqual(gw.framesOf(FrameType.BYE).map((b) => b.code), [1000]);
  });
});

describe('HELLO nonces', () => {
  it('are 22 base64url characters and distinct, across pool refills', () => {
    const pool = new NoncePool();
    const seen = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const nonce = pool.next();
      assert.match(nonce, /^[A-Za-z0-9_-]{22}$/);
      seen.add(nonce);
    }
    assert.equal(seen.size, 1_000);
    assert.equal(NONCE_BYTES, 16);
    assert.notEqual(helloNonce(), helloNonce());
  });
});
