import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway-fixture.js';
import { RawDevice } from '../support/raw-device.js';

function header(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function framed(body: Buffer): Buffer {
  return Buffer.concat([header(body.length), body]);
}

describe('gateway: bad input gets its close code and harms no one else', () => {
  let gw: TestGateway;
  let bystander: RawDevice;
  before(async () => {
    gw = await startTestGateway();
    bystander = await RawDevice.connect(gw.port);
    await bystander.hello(await bystander.register(gw.app.appId, gw.app.clientKey));
  });
  after(async () => {
    bystander.destroy();
    await gw.close();
  });

  const cases: Array<[string, Buffer, number, string]> = [
    ['a length bomb (header claims 4 GiB)', header(0xffffffff), CloseCode.FRAME_TOO_LARGE, 'frame_too_large'],
    ['a header one byte over maxFrame', header(65537), CloseCode.FRAME_TOO_LARGE, 'frame_too_large'],
    ['a zero-length frame', header(0), CloseCode.PROTOCOL_ERROR, 'frame_empty'],
    ['garbage that is not MessagePack', framed(Buffer.from([0xc1, 0xc1, 0xc1])), CloseCode.PROTOCOL_ERROR, 'body_not_map'],
    ['a body that is an array', framed(Buffer.from([0x91, 0x05])), CloseCode.PROTOCOL_ERROR, 'body_not_map'],
    ['an unknown frame type', framed(Buffer.from([0x81, 0xa1, 0x74, 0x63])), CloseCode.PROTOCOL_ERROR, 'frame_type_unknown'],
    ['a map with a __proto__ key', framed(Buffer.from([0x82, 0xa1, 0x74, 0x05, 0xa9, ...Buffer.from('__proto__'), 0x80])), CloseCode.PROTOCOL_ERROR, 'body_forbidden_key'],
    ['a truncated map', framed(Buffer.from([0x83, 0xa1, 0x74, 0x05])), CloseCode.PROTOCOL_ERROR, 'body_malformed'],
    ['a HELLO with a numeric app id', framed(Buffer.from([0x81, 0xa1, 0x74, 0x03])), CloseCode.PROTOCOL_ERROR, 'frame_field_invalid'],
  ];
  for (const [what, bytes, code, errorCode] of cases) {
    it(`${what} → ${code} (${errorCode})`, async () => {
      const before = await gw.metric('petrel_gateway_protocol_errors_total', { code: errorCode });
      const dev = await RawDevice.connect(gw.port);
      dev.sendBytes(bytes);
      assert.equal(await dev.closeCode(), code);
      assert.equal(await gw.metric('petrel_gateway_protocol_errors_total', { code: errorCode }), before + 1);
      bystander.send({ t: FrameType.PING });
      await bystander.nextOf(FrameType.PONG);
    });
  }

  it('closes a length bomb without waiting for its body', async () => {
    const dev = await RawDevice.connect(gw.port);
    const started = Date.now();
    dev.sendBytes(header(60_000_000));
    assert.equal(await dev.closeCode(1000), CloseCode.FRAME_TOO_LARGE);
    assert.ok(Date.now() - started < 1000);
  });

  for (const [what, frame] of [
    ['ACK', { t: FrameType.ACK, ids: ['x'] }],
    ['SUB', { t: FrameType.SUB, rid: 1, topics: ['news'] }],
    ['OPENED', { t: FrameType.OPENED, id: 'x' }],
    ['a server-only frame (PUSH)', { t: FrameType.PUSH, id: 'x', ts: 1, exp: 2 }],
  ] as const) {
    it(`${what} before HELLO closes 4003`, async () => {
      const dev = await RawDevice.connect(gw.port);
      dev.send(frame as never);
      assert.equal(await dev.closeCode(), CloseCode.PROTOCOL_ERROR);
    });
  }

  it('accepts PING before HELLO (keeps an idle unauthenticated link measurable)', async () => {
    const dev = await RawDevice.connect(gw.port);
    dev.send({ t: FrameType.PING });
    await dev.nextOf(FrameType.PONG);
    dev.destroy();
  });

  it('a second HELLO on an authenticated session closes 4003', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    await dev.hello(creds);
    dev.send(dev.helloFrame(creds));
    assert.equal(await dev.closeCode(), CloseCode.PROTOCOL_ERROR);
  });

  it('frames that arrive split byte by byte are decoded like whole ones', async () => {
    const dev = await RawDevice.connect(gw.port);
    const creds = await dev.register(gw.app.appId, gw.app.clientKey);
    const bytes = dev.codec.encode(dev.helloFrame(creds));
    for (const b of bytes) {
      dev.sendBytes(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    await dev.nextOf(FrameType.WELCOME);
    dev.destroy();
  });

  it('keeps memory bounded under many half-sent maximum frames', async () => {
    // 200 connections each announce a 64 KiB frame and send 1 byte of it. What they cost
    // is what they sent (a 1 KiB first buffer each), not the 12.5 MiB they announced.
    const devices = await Promise.all(Array.from({ length: 200 }, () => RawDevice.connect(gw.port)));
    for (const d of devices) d.sendBytes(Buffer.concat([header(65536), Buffer.from([0x80])]));
    const deadline = Date.now() + 3000;
    while (gw.gateway.stats().partialFrameBytes < 200 * 1024 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const stats = gw.gateway.stats();
    assert.ok(stats.connections >= 200);
    assert.equal(stats.partialFrameBytes, 200 * 1024, 'one 1 KiB buffer per half-sent frame');
    bystander.send({ t: FrameType.PING });
    await bystander.nextOf(FrameType.PONG);
    for (const d of devices) d.destroy();
  });
});
