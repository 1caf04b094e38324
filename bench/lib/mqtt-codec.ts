/**
 * A small MQTT 3.1.1 codec for the broadcast benchmark's peers (mosquitto, aedes): the
 * packets a QoS 0/1 subscriber and publisher exchange, no more. Pure: `encodeMqtt` turns a
 * packet into bytes, `MqttDecoder` is fed socket chunks (`write(chunk)`) and returns whole
 * packets, holding only the bytes of a packet not yet complete.
 *
 * Section numbers are those of the OASIS MQTT 3.1.1 specification.
 */

/** Control packet types (§2.2.1). */
export const MqttType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBSCRIBE: 8,
  SUBACK: 9,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

/** The remaining-length field is at most four bytes (§2.2.3). */
export const MAX_REMAINING_LENGTH = 268_435_455;
/** What a benchmark decoder accepts by default; a bigger packet is an error, found from its header alone. */
export const DEFAULT_MAX_PACKET = 1024 * 1024;
/** "MQTT", protocol level 4 (§3.1.2.1, §3.1.2.2). */
const PROTOCOL_NAME = 'MQTT';
const PROTOCOL_LEVEL = 4;

export type MqttPacket =
  | { type: 'connect'; clientId: string; keepalive: number; cleanSession: boolean }
  | { type: 'connack'; sessionPresent: boolean; returnCode: number }
  | { type: 'publish'; topic: string; payload: Buffer; qos: 0 | 1; messageId?: number; dup?: boolean; retain?: boolean }
  | { type: 'puback'; messageId: number }
  | { type: 'subscribe'; messageId: number; subscriptions: Array<{ topic: string; qos: 0 | 1 }> }
  | { type: 'suback'; messageId: number; granted: number[] }
  | { type: 'pingreq' }
  | { type: 'pingresp' }
  | { type: 'disconnect' };

export class MqttProtocolError extends Error {
  override readonly name = 'MqttProtocolError';
}

// ---------------------------------------------------------------------------------------
// Encoding

function remainingLengthBytes(n: number): number[] {
  if (n < 0 || n > MAX_REMAINING_LENGTH) throw new MqttProtocolError(`remaining length ${n} out of range`);
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function frame(firstByte: number, body: Buffer): Buffer {
  const len = remainingLengthBytes(body.length);
  const out = Buffer.allocUnsafe(1 + len.length + body.length);
  out[0] = firstByte;
  for (let i = 0; i < len.length; i++) out[1 + i] = len[i]!;
  body.copy(out, 1 + len.length);
  return out;
}

/** A UTF-8 string with its two-byte length prefix (§1.5.3). */
function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > 0xffff) throw new MqttProtocolError('string longer than 65,535 bytes');
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function u16(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new MqttProtocolError(`${n} is not a 16-bit value`);
  const out = Buffer.allocUnsafe(2);
  out.writeUInt16BE(n, 0);
  return out;
}

function packetId(n: number | undefined): Buffer {
  // Packet identifiers are non-zero (§2.3.1).
  if (n === undefined || n === 0) throw new MqttProtocolError('packet identifier must be 1…65535');
  return u16(n);
}

/** Fixed, never-changing packets, encoded once. */
const PINGREQ = Buffer.from([MqttType.PINGREQ << 4, 0]);
const PINGRESP = Buffer.from([MqttType.PINGRESP << 4, 0]);
const DISCONNECT = Buffer.from([MqttType.DISCONNECT << 4, 0]);

export function encodeMqtt(p: MqttPacket): Buffer {
  switch (p.type) {
    case 'connect': {
      // Flags (§3.1.2.3): only Clean Session; no will, user name or password.
      const flags = p.cleanSession ? 0x02 : 0;
      return frame(MqttType.CONNECT << 4, Buffer.concat([str(PROTOCOL_NAME), Buffer.from([PROTOCOL_LEVEL, flags]), u16(p.keepalive), str(p.clientId)]));
    }
    case 'connack':
      return frame(MqttType.CONNACK << 4, Buffer.from([p.sessionPresent ? 1 : 0, p.returnCode]));
    case 'publish': {
      // §3.3.1: DUP (bit 3), QoS (bits 2-1), RETAIN (bit 0); the packet id only when QoS > 0.
      const first = (MqttType.PUBLISH << 4) | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 1 : 0);
      const parts = [str(p.topic)];
      if (p.qos > 0) parts.push(packetId(p.messageId));
      parts.push(p.payload);
      return frame(first, Buffer.concat(parts));
    }
    case 'puback':
      return frame(MqttType.PUBACK << 4, packetId(p.messageId));
    case 'subscribe': {
      // §3.8.1: the fixed header's flags must be 0010.
      if (p.subscriptions.length === 0) throw new MqttProtocolError('SUBSCRIBE needs at least one topic filter');
      const parts = [packetId(p.messageId)];
      for (const s of p.subscriptions) parts.push(str(s.topic), Buffer.from([s.qos]));
      return frame((MqttType.SUBSCRIBE << 4) | 0x02, Buffer.concat(parts));
    }
    case 'suback':
      return frame(MqttType.SUBACK << 4, Buffer.concat([packetId(p.messageId), Buffer.from(p.granted)]));
    case 'pingreq':
      return PINGREQ;
    case 'pingresp':
      return PINGRESP;
    case 'disconnect':
      return DISCONNECT;
  }
}

// ---------------------------------------------------------------------------------------
// Decoding

/** Reads fields from one packet's body, failing on anything that runs past its end. */
class BodyReader {
  private at = 0;

  constructor(private readonly body: Buffer) {}

  u8(): number {
    if (this.at + 1 > this.body.length) throw new MqttProtocolError('packet ends inside a field');
    return this.body[this.at++]!;
  }

  u16(): number {
    if (this.at + 2 > this.body.length) throw new MqttProtocolError('packet ends inside a field');
    const v = this.body.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  str(): string {
    const len = this.u16();
    if (this.at + len > this.body.length) throw new MqttProtocolError('string runs past the packet');
    const s = this.body.toString('utf8', this.at, this.at + len);
    this.at += len;
    return s;
  }

  rest(): Buffer {
    const b = this.body.subarray(this.at);
    this.at = this.body.length;
    return b;
  }

  get remaining(): number {
    return this.body.length - this.at;
  }

  end(what: string): void {
    if (this.at !== this.body.length) throw new MqttProtocolError(`${what}: ${this.body.length - this.at} unexpected bytes`);
  }
}

function decodeBody(first: number, body: Buffer): MqttPacket {
  const type = first >> 4;
  const flags = first & 0x0f;
  const r = new BodyReader(body);
  // §2.2.2: reserved flags must be as specified; PUBLISH carries its own.
  const expectFlags = (want: number, name: string) => {
    if (flags !== want) throw new MqttProtocolError(`${name} with flags ${flags}`);
  };
  switch (type) {
    case MqttType.CONNECT: {
      expectFlags(0, 'CONNECT');
      if (r.str() !== PROTOCOL_NAME) throw new MqttProtocolError('CONNECT: not MQTT');
      if (r.u8() !== PROTOCOL_LEVEL) throw new MqttProtocolError('CONNECT: protocol level is not 4 (3.1.1)');
      const connectFlags = r.u8();
      if (connectFlags & 0xfd) throw new MqttProtocolError('CONNECT: will, user name and password are not supported here');
      const keepalive = r.u16();
      const clientId = r.str();
      r.end('CONNECT');
      return { type: 'connect', clientId, keepalive, cleanSession: (connectFlags & 0x02) !== 0 };
    }
    case MqttType.CONNACK: {
      expectFlags(0, 'CONNACK');
      const ack = r.u8();
      const returnCode = r.u8();
      r.end('CONNACK');
      return { type: 'connack', sessionPresent: (ack & 1) === 1, returnCode };
    }
    case MqttType.PUBLISH: {
      const qos = (flags >> 1) & 0x03;
      if (qos > 1) throw new MqttProtocolError(`PUBLISH with QoS ${qos} (only 0 and 1 here)`);
      const topic = r.str();
      const packet: MqttPacket = { type: 'publish', topic, payload: Buffer.alloc(0), qos: qos as 0 | 1, dup: (flags & 0x08) !== 0, retain: (flags & 1) === 1 };
      if (qos > 0) packet.messageId = r.u16();
      packet.payload = r.rest();
      return packet;
    }
    case MqttType.PUBACK: {
      expectFlags(0, 'PUBACK');
      const messageId = r.u16();
      r.end('PUBACK');
      return { type: 'puback', messageId };
    }
    case MqttType.SUBSCRIBE: {
      expectFlags(2, 'SUBSCRIBE');
      const messageId = r.u16();
      const subscriptions: Array<{ topic: string; qos: 0 | 1 }> = [];
      while (r.remaining > 0) {
        const topic = r.str();
        const qos = r.u8();
        if (qos > 1) throw new MqttProtocolError(`SUBSCRIBE with QoS ${qos} (only 0 and 1 here)`);
        subscriptions.push({ topic, qos: qos as 0 | 1 });
      }
      if (subscriptions.length === 0) throw new MqttProtocolError('SUBSCRIBE without a topic filter');
      return { type: 'subscribe', messageId, subscriptions };
    }
    case MqttType.SUBACK: {
      expectFlags(0, 'SUBACK');
      const messageId = r.u16();
      return { type: 'suback', messageId, granted: [...r.rest()] };
    }
    case MqttType.PINGREQ:
    case MqttType.PINGRESP:
    case MqttType.DISCONNECT: {
      const name = type === MqttType.PINGREQ ? 'pingreq' : type === MqttType.PINGRESP ? 'pingresp' : 'disconnect';
      expectFlags(0, name.toUpperCase());
      r.end(name.toUpperCase());
      return { type: name };
    }
    default:
      throw new MqttProtocolError(`packet type ${type} is not supported here`);
  }
}

/**
 * Streaming decoder: feed it chunks as they arrive; it returns the packets they complete.
 * A packet's length is checked against `maxPacket` as soon as its header is in, before
 * any of its body is waited for. After an error the decoder is unusable (close the socket).
 */
export class MqttDecoder {
  private pending: Buffer | null = null;

  constructor(private readonly maxPacket = DEFAULT_MAX_PACKET) {}

  write(chunk: Buffer): MqttPacket[] {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    const out: MqttPacket[] = [];
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      // Remaining length: up to four bytes, seven bits each, least significant first (§2.2.3).
      let len = 0;
      let mult = 1;
      let i = at + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < buf.length; n++, i++) {
        const byte = buf[i]!;
        len += (byte & 0x7f) * mult;
        mult *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
        if (n === 3) throw new MqttProtocolError('remaining length longer than four bytes');
      }
      if (!complete) break;
      if (len > this.maxPacket) throw new MqttProtocolError(`packet of ${len} bytes exceeds ${this.maxPacket}`);
      if (buf.length - i < len) break;
      out.push(decodeBody(buf[at]!, buf.subarray(i, i + len)));
      at = i + len;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
    return out;
  }

  /** Bytes held of a packet not yet complete. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}
