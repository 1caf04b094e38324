/**
 * The MQTT side of the benchmark swarm: subscribers and a publisher for the peers Petrel
 * is compared with (mosquitto, aedes). Subscribers run inside the same swarm worker
 * processes as Petrel's SDK devices (bench/lib/device-swarm.ts, mode 'mqtt'), connected
 * with the same concurrency and counted by the same per-phase recorder, so both sides
 * pay the same process structure and are metered the same way.
 *
 * A subscriber: CONNECT (clean session) → CONNACK → SUBSCRIBE topic QoS 1 → SUBACK, then
 * every QoS 1 PUBLISH is answered with PUBACK at once (MQTT 3.1.1 §4.3.2) and its payload
 * (`{"s": due time, "p": phase}`, JSON) handed to the recorder. The PUBACKs of one socket
 * read go out in one write, as the Petrel clients ACK the PUSHes of one read in one frame:
 * a broker that sends several PUBLISHes in one write gets the same saving back as Petrel.
 * PINGREQ every keepalive.
 */
import net from 'node:net';
import { encodeMqtt, MqttDecoder, type MqttPacket } from './mqtt-codec.js';

export interface MqttSubscriberPlan {
  host: string;
  port: number;
  clientId: string;
  topic: string;
  keepaliveSec: number;
  /** False: a persistent session (the broker keeps its subscription and QoS 1 messages). Default true. */
  cleanSession?: boolean;
}

/** What a subscriber reports: each QoS 1 message received (its PUBACK goes out once the read it came in is decoded). */
export type OnPublish = (payload: Buffer) => void;

const PINGREQ = encodeMqtt({ type: 'pingreq' });

/**
 * Opens one subscriber; `done(true)` once its subscription is granted, `done(false)` if
 * it fails before. Returns a closer.
 */
export function openMqttSubscriber(plan: MqttSubscriberPlan, onPublish: OnPublish, done: (ok: boolean) => void): { close(): void } {
  const decoder = new MqttDecoder();
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const settle = (ok: boolean) => {
    if (settled) return;
    settled = true;
    done(ok);
  };
  const socket = net.connect({ host: plan.host, port: plan.port }, () => {
    socket.write(encodeMqtt({ type: 'connect', clientId: plan.clientId, keepalive: plan.keepaliveSec, cleanSession: plan.cleanSession ?? true }));
  });
  socket.setNoDelay(true);
  let pubacks: Buffer[] = [];
  const handle = (p: MqttPacket) => {
    switch (p.type) {
      case 'publish':
        if (p.qos === 1) pubacks.push(encodeMqtt({ type: 'puback', messageId: p.messageId! }));
        onPublish(p.payload);
        break;
      case 'connack':
        if (p.returnCode !== 0) {
          settle(false);
          socket.destroy();
        } else {
          socket.write(encodeMqtt({ type: 'subscribe', messageId: 1, subscriptions: [{ topic: plan.topic, qos: 1 }] }));
        }
        break;
      case 'suback':
        if (p.granted[0] === 1 || p.granted[0] === 0) {
          timer = setInterval(() => socket.write(PINGREQ), plan.keepaliveSec * 1000);
          settle(true);
        } else {
          settle(false);
          socket.destroy();
        }
        break;
      default:
        break;
    }
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const p of decoder.write(chunk)) handle(p);
      if (pubacks.length > 0) {
        socket.write(pubacks.length === 1 ? pubacks[0]! : Buffer.concat(pubacks));
        pubacks = [];
      }
    } catch {
      socket.destroy();
      settle(false);
    }
  });
  socket.on('error', () => settle(false));
  socket.on('close', () => {
    clearInterval(timer);
    settle(false);
  });
  return {
    close() {
      clearInterval(timer);
      if (!socket.destroyed) socket.end(encodeMqtt({ type: 'disconnect' }));
      setTimeout(() => socket.destroy(), 100).unref();
    },
  };
}

/**
 * A publisher connection: PUBLISH QoS 1 to one topic, resolved on its PUBACK (the broker
 * has taken responsibility for it, §4.3.2), like a 202 from Petrel's API.
 */
export class MqttPublisher {
  private readonly decoder = new MqttDecoder();
  private readonly waiting = new Map<number, () => void>();
  private nextId = 1;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const p of this.decoder.write(chunk)) {
        if (p.type === 'puback') {
          this.waiting.get(p.messageId)?.();
          this.waiting.delete(p.messageId);
        }
      }
    });
  }

  static async connect(host: string, port: number, clientId: string): Promise<MqttPublisher> {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const decoder = new MqttDecoder();
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => socket.write(encodeMqtt({ type: 'connect', clientId, keepalive: 600, cleanSession: true })));
      const onData = (chunk: Buffer) => {
        const [ack] = decoder.write(chunk);
        if (!ack) return;
        socket.off('data', onData);
        socket.off('error', reject);
        if (ack.type === 'connack' && ack.returnCode === 0) resolve();
        else reject(new Error(`publisher CONNECT refused: ${JSON.stringify(ack)}`));
      };
      socket.on('data', onData);
    });
    return new MqttPublisher(socket);
  }

  publish(topic: string, payload: Buffer): Promise<void> {
    const messageId = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    return new Promise((resolve) => {
      this.waiting.set(messageId, resolve);
      this.socket.write(encodeMqtt({ type: 'publish', topic, payload, qos: 1, messageId }));
    });
  }

  close(): void {
    this.socket.end(encodeMqtt({ type: 'disconnect' }));
  }
}
