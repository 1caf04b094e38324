import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeMqtt, MqttDecoder, MqttProtocolError, type MqttPacket } from '../../bench/lib/mqtt-codec.js';

/** One of every packet the benchmark uses, with the bytes the specification gives for it. */
const fixtures: Array<{ name: string; packet: MqttPacket; hex?: string }> = [
  {
    name: 'CONNECT',
    packet: { type: 'connect', clientId: 'b1', keepalive: 240, cleanSession: true },
    // §3.1: 0x10, len 14, "MQTT", level 4, flags 0x02, keepalive 240, "b1"
    hex: '100e00044d5154540402' + '00f0' + '00026231',
  },
  { name: 'CONNACK', packet: { type: 'connack', sessionPresent: false, returnCode: 0 }, hex: '20020000' },
  { name: 'PUBLISH QoS 0', packet: { type: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 0, dup: false, retain: false }, hex: '3007' + '0003612f62' + '6869' },
  { name: 'PUBLISH QoS 1', packet: { type: 'publish', topic: 'news', payload: Buffer.from('{"s":1}'), qos: 1, messageId: 7, dup: false, retain: false }, hex: '320f' + '00046e657773' + '0007' + Buffer.from('{"s":1}').toString('hex') },
  { name: 'PUBLISH QoS 1, DUP and RETAIN', packet: { type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 1, messageId: 65535, dup: true, retain: true } },
  { name: 'PUBACK', packet: { type: 'puback', messageId: 258 }, hex: '40020102' },
  { name: 'SUBSCRIBE', packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'news', qos: 1 }] }, hex: '8209' + '0001' + '00046e657773' + '01' },
  { name: 'SUBACK', packet: { type: 'suback', messageId: 1, granted: [1, 0x80] }, hex: '9004' + '0001' + '0180' },
  { name: 'PINGREQ', packet: { type: 'pingreq' }, hex: 'c000' },
  { name: 'PINGRESP', packet: { type: 'pingresp' }, hex: 'd000' },
  { name: 'DISCONNECT', packet: { type: 'disconnect' }, hex: 'e000' },
  // A remaining length of two bytes (§2.2.3: 128 → 0x80 0x01).
  { name: 'PUBLISH with a 2-byte remaining length', packet: { type: 'publish', topic: 'x', payload: Buffer.alloc(200, 7), qos: 1, messageId: 1, dup: false, retain: false } },
];

const all = Buffer.concat(fixtures.map((f) => encodeMqtt(f.packet)));
const expected = fixtures.map((f) => f.packet);

describe('MQTT codec (bench peers)', () => {
  it('encodes packets as the specification lays them out', () => {
    for (const f of fixtures.filter((x) => x.hex)) assert.equal(encodeMqtt(f.packet).toString('hex'), f.hex, f.name);
    const long = encodeMqtt(fixtures.at(-1)!.packet);
    assert.deepEqual([...long.subarray(0, 3)], [0x32, 0xcd, 0x01], '205 = 0xcd 0x01');
  });

  it('decodes every packet fed whole', () => {
    for (const f of fixtures) assert.deepEqual(new MqttDecoder().write(encodeMqtt(f.packet)), [f.packet], f.name);
    assert.deepEqual(new MqttDecoder().write(all), expected);
  });

  it('decodes the stream fed byte by byte', () => {
    const d = new MqttDecoder();
    const out: MqttPacket[] = [];
    for (let i = 0; i < all.length; i++) out.push(...d.write(all.subarray(i, i + 1)));
    assert.deepEqual(out, expected);
    assert.equal(d.buffered, 0);
  });

  it('decodes the stream split in two at every boundary', () => {
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new MqttDecoder();
      assert.deepEqual([...d.write(all.subarray(0, cut)), ...d.write(all.subarray(cut))], expected, `cut at ${cut}`);
    }
  });

  it('round-trips random publishes and subscriptions split at random points', () => {
    const publish = fc.record({
      type: fc.constant('publish' as const),
      topic: fc.string({ maxLength: 40 }),
      payload: fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
      qos: fc.constantFrom(0 as const, 1 as const),
      messageId: fc.integer({ min: 1, max: 65535 }),
      dup: fc.boolean(),
      retain: fc.boolean(),
    }, { noNullPrototype: true }).map((p): MqttPacket => (p.qos === 0 ? { type: 'publish', topic: p.topic, payload: p.payload, qos: 0, dup: p.dup, retain: p.retain } : p));
    const subscribe = fc.record({
      type: fc.constant('subscribe' as const),
      messageId: fc.integer({ min: 1, max: 65535 }),
      subscriptions: fc.array(fc.record({ topic: fc.string({ maxLength: 20 }), qos: fc.constantFrom(0 as const, 1 as const) }, { noNullPrototype: true }), { minLength: 1, maxLength: 4 }),
    }, { noNullPrototype: true });
    fc.assert(
      fc.property(fc.array(fc.oneof(publish, subscribe), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (packets, cuts) => {
        const bytes = Buffer.concat(packets.map(encodeMqtt));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const d = new MqttDecoder();
        const out: MqttPacket[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          out.push(...d.write(bytes.subarray(from, p)));
          from = p;
        }
        assert.deepEqual(out, packets);
      }),
    );
  });

  it('refuses a packet larger than its limit from the header alone', () => {
    const d = new MqttDecoder(100);
    // PUBLISH announcing 16,384 bytes; none of the body has arrived.
    assert.throws(() => d.write(Buffer.from([0x30, 0x80, 0x80, 0x01])), MqttProtocolError);
  });

  it('refuses a remaining length longer than four bytes', () => {
    assert.throws(() => new MqttDecoder().write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), MqttProtocolError);
  });

  it('refuses malformed packets', () => {
    const bad = [
      '2003000000', // CONNACK with a third byte
      '3200', // QoS 1 PUBLISH without topic or id
      '3400', // QoS 2
      '8000', // SUBSCRIBE with flags 0
      '82020001', // SUBSCRIBE without a topic filter
      '4001' + '01', // PUBACK cut short
      'f000', // AUTH (MQTT 5 only)
      '100c00044d51545403020000' + '0000', // protocol level 3
    ];
    for (const hex of bad) assert.throws(() => new MqttDecoder().write(Buffer.from(hex, 'hex')), MqttProtocolError, hex);
  });

  it('never throws anything but MqttProtocolError on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      try {
        new MqttDecoder(4096).write(randomBytes(1 + (i % 64)));
      } catch (err) {
        assert.ok(err instanceof MqttProtocolError, String(err));
      }
    }
  });

  it('refuses packet id 0 and strings over 65,535 bytes when encoding', () => {
    assert.throws(() => encodeMqtt({ type: 'puback', messageId: 0 }), MqttProtocolError);
    assert.throws(() => encodeMqtt({ type: 'publish', topic: 'x'.repeat(70_000), payload: Buffer.alloc(0), qos: 0 }), MqttProtocolError);
  });
});
