/**
 * A minimal Petrel device for the broadcast benchmark, the counterpart of the minimal
 * MQTT subscriber (mqtt-client.ts) the peers are driven with: the shared wire codec, HELLO
 * with pre-registered credentials, SUB to the topic, and every PUSH answered with an ACK
 * at once, like a PUBACK: one ACK frame for the PUSHes of one socket read (the MQTT client
 * writes the PUBACKs of one read together too). No persistence, deduplication, events or batching timers: what
 * the SDK adds for a real device (bench/lib/device-swarm.ts mode 'sdk') is measured there,
 * and this mode compares the servers with clients of the same weight on the shared cores.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { FrameType, signHello, WireCodec, type RawFrame } from '../../src/protocol/index.js';

export interface RawDevicePlan {
  host: string;
  port: number;
  appId: string;
  dev: string;
  secret: string;
  topics: readonly string[];
  heartbeatSec: number;
}

/** A PUSH received (its ACK is written once the read it came in is decoded): its `data`. */
export type OnPush = (data: unknown) => void;

/** Opens one device; `done(true)` once its SUB is acknowledged, `done(false)` if it fails before. */
export function openRawDevice(plan: RawDevicePlan, codec: WireCodec, onPush: OnPush, done: (ok: boolean) => void): { close(): void } {
  const decoder = codec.decoder();
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const settle = (ok: boolean) => {
    if (settled) return;
    settled = true;
    done(ok);
  };
  const socket = net.connect({ host: plan.host, port: plan.port }, () => {
    const ts = Date.now();
    const nonce = randomBytes(12).toString('base64url');
    socket.write(codec.encode({ t: FrameType.HELLO, v: 1, app: plan.appId, dev: plan.dev, ts, nonce, sig: signHello(plan.secret, plan.appId, plan.dev, ts, nonce), hb: plan.heartbeatSec }));
  });
  socket.setNoDelay(true);
  let acks: string[] = [];
  const sink = {
    onFrame(frame: RawFrame): void {
      const f = frame as RawFrame & { id?: string; data?: unknown; ok?: boolean };
      switch (f.t) {
        case FrameType.PUSH:
          acks.push(f.id!);
          onPush(f.data);
          break;
        case FrameType.WELCOME:
          if (plan.topics.length === 0) settle(true);
          else socket.write(codec.encode({ t: FrameType.SUB, rid: 1, topics: [...plan.topics] }));
          timer = setInterval(() => socket.write(codec.encode({ t: FrameType.PING })), plan.heartbeatSec * 1000);
          break;
        case FrameType.SUBACK:
          settle(f.ok === true);
          break;
        case FrameType.BYE:
          settle(false);
          break;
        default: // PONG, CURSOR, …: nothing to do
      }
    },
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.feed(chunk, sink);
      if (acks.length > 0) {
        socket.write(codec.encode({ t: FrameType.ACK, ids: acks }));
        acks = [];
      }
    } catch {
      socket.destroy();
    }
  });
  socket.once('error', () => settle(false));
  socket.once('close', () => {
    clearInterval(timer);
    settle(false);
  });
  return {
    close: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}
