/**
 * A client process holding thousands of devices for benchmarks (one process can hold
 * ~19,900 sockets here, so big runs fork several). Driven over IPC by the bench script:
 *   parent → {cmd:'connect', ...SwarmPlan}   worker → {ev:'connected', ...SwarmReport}
 *   parent → {cmd:'collect'}                 worker → {ev:'collected', phases}
 *   parent → {cmd:'status'}                  worker → {ev:'status', ...SwarmStatus}
 *   parent → {cmd:'stop'}                    worker exits
 * Modes: 'sdk' runs real PetrelClients (HELLO, heartbeats, ACKs); 'tcp' opens bare sockets
 * (the floor a node:net server pays per idle socket after a
 * handshake-sized exchange); 'mqtt' runs MQTT 3.1.1 QoS 1 subscribers (bench/lib/mqtt-client.ts)
 * for the peers Petrel is compared with, counted by the same recorder; 'raw' runs minimal
 * Petrel devices of the same weight as those (bench/lib/raw-petrel-client.ts: HELLO, SUB,
 * an ACK written per PUSH, nothing of the SDK's persistence or dedup).
 *
 * With `record`, every device's messages feed per-phase latency histograms: a benchmark's
 * message carries `data: {s, p}`, `s` the time it was due to be sent (unix ms with
 * sub-millisecond digits, performance.timeOrigin + performance.now() of the sender: the
 * same clock on one machine) and `p` its phase; latency = receive time − s. MQTT payloads
 * carry the same two fields as JSON. ACKs (the SDK's ACK frames, MQTT PUBACKs) are counted
 * per phase too, when they are written.
 *
 * Fault tests (a gateway killed under the fleet) read `status`: how many 'sdk' devices hold
 * a session now, how their connections ended (BYE codes) and, with `tally`, how many
 * devices each phase's messages reached and how many were handed to an app twice.
 */
import net from 'node:net';
import type { Histogram } from 'hdr-histogram-js';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import { FrameType, WireCodec } from '../../src/protocol/index.js';
import { encodeHistogram, latencyHistogram, nowMs } from './latency.js';
import { openMqttSubscriber } from './mqtt-client.js';
import { openRawDevice } from './raw-petrel-client.js';

export interface SwarmDevice {
  appId: string;
  dev: string;
  secret: string;
}

export interface SwarmPlan {
  mode: 'sdk' | 'raw' | 'tcp' | 'mqtt';
  port: number;
  /**
   * Topics each device subscribes to once connected ('sdk': SUB, resolved on SUBACK;
   * 'mqtt': the one topic, QoS 1, `{client}` in it replaced by the client id); the device
   * counts as connected when they are granted.
   */
  topics?: string[];
  /** 'mqtt': client ids are this prefix and the device's index. */
  clientIdPrefix?: string;
  /** 'mqtt': persistent sessions (clean session off), for a broker's durable variant. */
  persistentSession?: boolean;
  devices: SwarmDevice[];
  /** Bare-socket mode needs only a count. */
  count: number;
  /**
   * Gateway address to dial. Runs spread over 127.0.0.2… destinations rather than source
   * addresses: binding a source address makes the kernel search for a free port on every
   * connect (measured here: 2.3 ms of CPU per connect), while connect() alone picks one
   * through its hashed allocator (0.2 ms), and the 4-tuple only has to be unique per
   * destination.
   */
  host: string;
  /** Handshakes in flight at once. */
  concurrency: number;
  /**
   * Optional pace (connects per second, this process): heartbeats start at connect, so a
   * fleet connected at the same pace pings with the same bunching; used to give the floor
   * the gateway fleet's timing.
   */
  ratePerSecond?: number;
  heartbeatSec: number;
  /** Record the latency of every benchmark message received ('sdk' mode). */
  record?: boolean;
  /**
   * Count, per phase, the messages handed to each device's app ('sdk' mode), for lost and
   * duplicate counts in `status` (a closure per device, so off for the benchmarks).
   */
  tally?: boolean;
}

/** What one worker received in a phase since its last collect. */
export interface PhaseSample {
  phase: string;
  count: number;
  /** Receive times (unix ms) of the first and last message. */
  firstAt: number;
  lastAt: number;
  /** Latencies in microseconds, HDR histogram, compressed base64. */
  histogram: string;
  /** Messages of the phase acknowledged (ids in ACK frames written, PUBACKs written), and when the last was. */
  acked: number;
  lastAckAt: number;
}

export interface SwarmReport {
  connected: number;
  failed: number;
  startedAt: number;
  doneAt: number;
}

/** What the parent reads during a fault: the 'sdk' devices of this worker, now. */
export interface SwarmStatus {
  /** Devices holding a session (WELCOME received, not disconnected since). */
  online: number;
  /** WELCOMEs after a device's first: sessions it started again after losing one. */
  reconnects: number;
  /** When the last WELCOME came (unix ms, 0 before any). */
  lastConnectedAt: number;
  /**
   * Connections and attempts ended, by BYE code ('none': the socket closed or never
   * connected, e.g. refused while no gateway listened).
   */
  ends: Record<string, number>;
  /** With `tally`, per phase: devices handed at least one of its messages, and hand-overs of a message a device's app already had. */
  shown: Record<string, { devices: number; repeats: number }>;
  /** A few devices without a session now: sessions they had, and how their last connection or attempt ended. */
  offline: Array<{ dev: string; sessions: number; lastEnd: string }>;
}

/** One 'sdk' device's history, for SwarmStatus. */
interface DeviceLife {
  dev: string;
  online: boolean;
  sessions: number;
  lastEnd: string;
}
const lives: DeviceLife[] = [];

const held: Array<{ close(): unknown }> = [];

const presence = { online: 0, reconnects: 0, lastConnectedAt: 0, ends: {} as Record<string, number> };
/** With `tally`: phase → device id → message id → times its app was handed it. */
const handed = new Map<string, Map<string, Map<string, number>>>();

function tally(dev: string, m: PushMessage): void {
  const phase = (m.data as { p?: unknown } | undefined)?.p;
  if (typeof phase !== 'string') return;
  let devices = handed.get(phase);
  if (!devices) handed.set(phase, (devices = new Map()));
  let ids = devices.get(dev);
  if (!ids) devices.set(dev, (ids = new Map()));
  ids.set(m.id, (ids.get(m.id) ?? 0) + 1);
}

function status(): SwarmStatus {
  const shown: SwarmStatus['shown'] = {};
  for (const [phase, devices] of handed) {
    let repeats = 0;
    for (const ids of devices.values()) for (const n of ids.values()) repeats += n - 1;
    shown[phase] = { devices: devices.size, repeats };
  }
  const offline = lives.filter((l) => !l.online).slice(0, 5).map(({ dev, sessions, lastEnd }) => ({ dev, sessions, lastEnd }));
  return { ...presence, shown, offline };
}

interface PhaseRecord {
  count: number;
  firstAt: number;
  lastAt: number;
  histogram: Histogram;
  acked: number;
  lastAckAt: number;
}
const phases = new Map<string, PhaseRecord>();

function phaseRecord(phase: string, now: number): PhaseRecord {
  let rec = phases.get(phase);
  if (!rec) {
    rec = { count: 0, firstAt: now, lastAt: now, histogram: latencyHistogram(), acked: 0, lastAckAt: 0 };
    phases.set(phase, rec);
  }
  return rec;
}

/** A benchmark message received: `data` is `{s, p}` (else not ours, ignored). Returns its phase. */
function record(data: { s?: unknown; p?: unknown } | undefined): string | null {
  if (typeof data?.s !== 'number' || typeof data.p !== 'string') return null;
  const now = nowMs();
  const rec = phaseRecord(data.p, now);
  rec.count++;
  rec.lastAt = now;
  rec.histogram.recordValue(Math.max(1, Math.round((now - data.s) * 1000)));
  return data.p;
}

function recordAcks(phase: string, n: number): void {
  const now = nowMs();
  const rec = phaseRecord(phase, now);
  rec.acked += n;
  rec.lastAckAt = now;
}

/**
 * Message id → phase of the benchmark messages received, so the ACK frames the SDK writes
 * later (batched) can be counted per phase. A broadcast has one id for every device.
 * Cleared when large (unicast runs name many ids; their ACKs are not counted then).
 */
const phaseOfId = new Map<string, string>();

/** A raw device's PUSH: its ACK is already written. */
function onRawPush(data: unknown): void {
  const phase = record(data as { s?: unknown; p?: unknown } | undefined);
  if (phase !== null) recordAcks(phase, 1);
}

/** One listener shared by every client (no closure per device). */
function onMessage(m: PushMessage): void {
  const phase = record(m.data as { s?: unknown; p?: unknown } | undefined);
  if (phase === null) return;
  if (phaseOfId.size > 200_000) phaseOfId.clear();
  phaseOfId.set(m.id, phase);
}

/** The SDK's codec, noting the ids of every ACK frame it encodes (shared by a worker's clients). */
class AckCountingCodec extends WireCodec {
  override encode(frame: Parameters<WireCodec['encode']>[0]): Buffer {
    if ((frame as { t?: number }).t === FrameType.ACK) {
      for (const id of (frame as { ids: string[] }).ids) {
        const phase = phaseOfId.get(id);
        if (phase !== undefined) recordAcks(phase, 1);
      }
    }
    return super.encode(frame);
  }
}

/** An MQTT subscriber's message: its PUBACK is already written. */
function onMqttPublish(payload: Buffer): void {
  let data: { s?: unknown; p?: unknown } | undefined;
  try {
    data = JSON.parse(payload.toString('utf8')) as { s?: unknown; p?: unknown };
  } catch {
    return;
  }
  const phase = record(data);
  if (phase !== null) recordAcks(phase, 1);
}

function collect(): PhaseSample[] {
  const out: PhaseSample[] = [];
  for (const [phase, r] of phases) {
    out.push({ phase, count: r.count, firstAt: r.firstAt, lastAt: r.lastAt, histogram: encodeHistogram(r.histogram), acked: r.acked, lastAckAt: r.lastAckAt });
    r.histogram.destroy();
  }
  phases.clear();
  return out;
}

const HANDSHAKE_BYTES = Buffer.alloc(100, 1);
const PING_BYTES = Buffer.alloc(8, 5);

async function run(plan: SwarmPlan): Promise<SwarmReport> {
  const startedAt = Date.now();
  const total = plan.mode === 'sdk' || plan.mode === 'raw' ? plan.devices.length : plan.count;
  const codec = new AckCountingCodec();
  let next = 0;
  let connected = 0;
  let failed = 0;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    let paceTimer: NodeJS.Timeout | null = null;
    const launch = () => {
      while (inFlight < plan.concurrency && next < total) {
        if (plan.ratePerSecond && next >= ((Date.now() - startedAt) / 1000) * plan.ratePerSecond) {
          paceTimer ??= setTimeout(() => {
            paceTimer = null;
            launch();
          }, 2);
          return;
        }
        const i = next++;
        inFlight++;
        const done = (ok: boolean) => {
          inFlight--;
          if (ok) connected++;
          else failed++;
          if (connected + failed === total) resolve();
          else launch();
        };
        if (plan.mode === 'tcp') openSocket(plan, done);
        else if (plan.mode === 'mqtt') openMqtt(plan, i, done);
        else if (plan.mode === 'raw') {
          const d = plan.devices[i]!;
          held.push(openRawDevice({ host: plan.host, port: plan.port, appId: d.appId, dev: d.dev, secret: d.secret, topics: plan.topics ?? [], heartbeatSec: plan.heartbeatSec }, codec, onRawPush, done));
        }
        else openDevice(plan, plan.devices[i]!, codec, done);
      }
    };
    if (total === 0) resolve();
    else launch();
  });
  return { connected, failed, startedAt, doneAt: Date.now() };
}

function openSocket(plan: SwarmPlan, done: (ok: boolean) => void): void {
  // The same exchange as a HELLO/WELCOME handshake (about 100 bytes up, 60 down), so the
  // floor socket has been read from and written to like an authenticated one.
  // Then a PING-sized write every heartbeat, answered by the server, like a device.
  const socket = net.connect({ host: plan.host, port: plan.port }, () => socket.write(HANDSHAKE_BYTES));
  let timer: NodeJS.Timeout | undefined;
  socket.once('data', () => {
    done(true);
    timer = setInterval(() => socket.write(PING_BYTES), plan.heartbeatSec * 1000);
  });
  socket.once('error', () => done(false));
  socket.on('data', () => {});
  held.push({
    close: () => {
      clearInterval(timer);
      socket.destroy();
    },
  });
}

function openMqtt(plan: SwarmPlan, index: number, done: (ok: boolean) => void): void {
  const topic = plan.topics?.[0];
  if (topic === undefined) throw new Error("mode 'mqtt' needs a topic");
  const clientId = `${plan.clientIdPrefix ?? 'b'}${index}`;
  held.push(openMqttSubscriber(
    // `{client}` in the topic: a topic per subscriber (what unicast to a device maps to in MQTT).
    { host: plan.host, port: plan.port, clientId, topic: topic.replace('{client}', clientId), keepaliveSec: plan.heartbeatSec, cleanSession: plan.persistentSession !== true },
    onMqttPublish,
    done,
  ));
}

function openDevice(plan: SwarmPlan, device: SwarmDevice, codec: WireCodec, done: (ok: boolean) => void): void {
  const client = new PetrelClient({
    host: plan.host,
    port: plan.port,
    appId: device.appId,
    clientKey: 'unused-devices-are-preregistered',
    store: new MemoryStore({ appId: device.appId, dev: device.dev, secret: device.secret, cursors: {}, seen: [] }),
    heartbeatSec: plan.heartbeatSec,
    codec,
    backoff: { baseMs: 500, capMs: 5000 },
  });
  let settled = false;
  const settle = (ok: boolean) => {
    if (settled) return;
    settled = true;
    done(ok);
  };
  if (plan.record) client.on('message', onMessage);
  if (plan.tally) {
    const count = (m: PushMessage) => tally(device.dev, m);
    client.on('message', count);
    client.on('notification', count);
  }
  const topics = plan.topics;
  const life: DeviceLife = { dev: device.dev, online: false, sessions: 0, lastEnd: '' };
  lives.push(life);
  client.on('connected', () => {
    presence.online++;
    if (life.sessions++ > 0) presence.reconnects++;
    presence.lastConnectedAt = Date.now();
    life.online = true;
    if (!topics?.length) return settle(true);
    if (!settled) client.subscribe(topics).then(() => settle(true), () => settle(false));
  });
  client.on('disconnected', ({ code, reason, willReconnect }) => {
    if (life.online) presence.online--;
    life.online = false;
    const key = code === undefined ? 'none' : String(code);
    presence.ends[key] = (presence.ends[key] ?? 0) + 1;
    life.lastEnd = `${key} ${reason ?? ''}${willReconnect ? '' : ' (stopped)'}`;
  });
  client.on('stopped', () => settle(false));
  client.start().catch(() => settle(false));
  held.push({ close: () => client.close() });
}

process.on('message', (msg: { cmd: 'connect'; plan: SwarmPlan } | { cmd: 'collect' } | { cmd: 'status' } | { cmd: 'stop' }) => {
  if (msg.cmd === 'connect') {
    run(msg.plan).then((report) => process.send!({ ev: 'connected', ...report }));
  } else if (msg.cmd === 'collect') {
    process.send!({ ev: 'collected', phases: collect() });
  } else if (msg.cmd === 'status') {
    process.send!({ ev: 'status', ...status() });
  } else {
    for (const h of held) h.close();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
process.send!({ ev: 'ready' });
