import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, FrameType, parseClientFrame, ProtocolError, signHello } from '../../src/protocol/index.js';
import { APP_LOG } from '../../src/domain/audience.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * Tenant isolation on the wire (issue #7 item 4): a device of app A uses every frame type
 * a device may send with app B's ids, and nothing of B changes — no credential of B is
 * accepted, no message of B is counted delivered or opened, no topic of B gains a
 * subscriber, no broadcast of B reaches A. The HTTP side is test/api/tenant-matrix.test.ts.
 */

interface Trace {
  counts: { delivered: number; opened: number };
}

/** Every frame type a device may send: those the client parser knows. */
function clientFrameTypes(): string[] {
  return Object.entries(FrameType).filter(([, t]) => {
    try {
      parseClientFrame({ t });
      return true;
    } catch (err) {
      return !(err instanceof ProtocolError && err.code === 'frame_type_unknown');
    }
  }).map(([name]) => name).sort();
}

describe('tenant isolation of device frames: A\'s device with B\'s ids changes nothing of B', () => {
  let stack: TestStack;
  let a: TestApp;
  let b: TestApp;
  let aDev: RawDevice;
  let aCreds: DeviceCredentials;
  let bDev: RawDevice;
  let bCreds: DeviceCredentials;
  let bMessage: string;
  const covered = new Set<string>();
  const asB = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, secret: b.serverSecret });
  const traceOfB = async (id: string) => (await asB(`/v1/messages/${id}`)).body as unknown as Trace;
  const port = () => stack.gateways[0]!.port;

  before(async () => {
    stack = await startTestStack({ overrides: { dispatch: { traceDevices: 100 } } });
    a = stack.app;
    b = await stack.newApp();
    aDev = await RawDevice.connect(port());
    aCreds = await aDev.register(a.appId, a.clientKey);
    await aDev.hello(aCreds);
    bDev = await RawDevice.connect(port());
    bCreds = await bDev.register(b.appId, b.clientKey);
    await bDev.hello(bCreds);
    bDev.send({ t: FrameType.SUB, rid: 1, topics: ['news'] });
    assert.equal((await bDev.nextOf(FrameType.SUBACK)).ok, true);
    // A message of B that B's device received and has not ACKed or opened yet.
    const sent = await asB('/v1/messages', { body: { to: { devices: [bCreds.deviceId] }, data: 'for b' } });
    assert.equal(sent.status, 202);
    bMessage = sent.body.id;
    assert.equal((await bDev.nextOf(FrameType.PUSH)).id, bMessage);
  });
  after(async () => {
    aDev.destroy();
    bDev.destroy();
    await stack.close();
  });

  it('REGISTER into B with A\'s client key is refused (4001)', async () => {
    covered.add('REGISTER');
    const dev = await RawDevice.connect(port());
    dev.send({ t: FrameType.REGISTER, app: b.appId, key: a.clientKey });
    assert.equal(await dev.closeCode(), CloseCode.AUTH_FAILED);
  });

  it('HELLO naming B with A\'s device, or B\'s device with A\'s secret, is refused (4001)', async () => {
    covered.add('HELLO');
    const asOtherApp = await RawDevice.connect(port());
    asOtherApp.send(asOtherApp.helloFrame({ ...aCreds, appId: b.appId }));
    assert.equal(await asOtherApp.closeCode(), CloseCode.AUTH_FAILED);
    const asOtherDevice = await RawDevice.connect(port());
    asOtherDevice.send(asOtherDevice.helloFrame({ appId: b.appId, deviceId: bCreds.deviceId, secret: aCreds.secret }));
    assert.equal(await asOtherDevice.closeCode(), CloseCode.AUTH_FAILED);
    // A well-signed HELLO whose signature covers B's app id but A's device: still refused.
    const ts = Date.now();
    const nonce = 'n'.repeat(16);
    const forged = await RawDevice.connect(port());
    forged.send({ t: FrameType.HELLO, v: 1, app: b.appId, dev: aCreds.deviceId, ts, nonce, sig: signHello(aCreds.secret, b.appId, aCreds.deviceId, ts, nonce) });
    assert.equal(await forged.closeCode(), CloseCode.AUTH_FAILED);
  });

  it('ACK and OPENED of B\'s message by A\'s device count nothing; B\'s own do', async () => {
    covered.add('ACK').add('OPENED');
    aDev.send({ t: FrameType.ACK, ids: [bMessage] });
    aDev.send({ t: FrameType.OPENED, id: bMessage });
    aDev.send({ t: FrameType.PING });
    await aDev.nextOf(FrameType.PONG);
    await new Promise((r) => setTimeout(r, 300));
    const before = (await traceOfB(bMessage)).counts;
    assert.equal(before.delivered, 0, 'A\'s ACK counted nothing');
    assert.equal(before.opened, 0, 'A\'s OPENED counted nothing');
    // The counters do work: B's device ACKs and opens it.
    bDev.send({ t: FrameType.ACK, ids: [bMessage] });
    bDev.send({ t: FrameType.OPENED, id: bMessage });
    await waitFor(async () => {
      const { delivered, opened } = (await traceOfB(bMessage)).counts;
      return delivered === 1 && opened === 1;
    }, 'B\'s own ACK and OPENED counted', 5000, 50);
  });

  it('SUB and UNSUB of a topic B also has stay in A\'s namespace; B\'s broadcast reaches only B', async () => {
    covered.add('SUB').add('UNSUB');
    aDev.send({ t: FrameType.SUB, rid: 7, topics: ['news'] });
    assert.equal((await aDev.nextOf(FrameType.SUBACK)).ok, true);
    const count = async () => ((await asB('/v1/topics/news')).body as unknown as { subscribers: number }).subscribers;
    assert.equal(await count(), 1, 'B\'s topic has B\'s device only');
    const broadcast = await asB('/v1/messages', { body: { to: { topic: 'news' }, data: 'b news' } });
    assert.equal(broadcast.status, 202);
    assert.equal((await bDev.nextOf(FrameType.PUSH)).id, broadcast.body.id);
    await assert.rejects(aDev.nextOf(FrameType.PUSH, 500), 'A\'s device got nothing of B');
    aDev.send({ t: FrameType.UNSUB, rid: 8, topics: ['news'] });
    assert.equal((await aDev.nextOf(FrameType.SUBACK)).ok, true);
    assert.equal(await count(), 1, 'A\'s UNSUB did not touch B\'s topic');
  });

  it('a HELLO cursor for the app log replays A\'s log only, never B\'s; PING and BYE touch no one else', async () => {
    covered.add('PING').add('BYE');
    const again = await RawDevice.connect(port());
    aDev.send({ t: FrameType.BYE, code: CloseCode.NORMAL });
    await again.hello(aCreds, { cur: { [APP_LOG]: 0 } });
    again.send({ t: FrameType.PING });
    await again.nextOf(FrameType.PONG);
    await assert.rejects(again.nextOf(FrameType.PUSH, 500), 'no broadcast of B replayed to A\'s device');
    again.destroy();
    // B's session carried on through all of it.
    bDev.send({ t: FrameType.PING });
    await bDev.nextOf(FrameType.PONG);
  });

  it('covers every frame type a device may send', () => {
    assert.deepEqual([...covered].sort(), clientFrameTypes());
  });
});
