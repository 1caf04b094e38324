/**
 * A client process holding thousands of devices for benchmarks (one process can hold
 * ~19,900 sockets here, so big runs fork several). Driven over IPC by the bench script:
 *   parent → {cmd:'connect', ...SwarmPlan}   worker → {ev:'connected', ...SwarmReport}
 *   parent → {cmd:'collect'}                 worker → {ev:'collected', phases}
 *   parent → {cmd:'stop'}                    worker exits
 * Modes: 'sdk' runs real PetrelClients (HELLO, heartbeats, ACKs); 'tcp' opens bare sockets
 * (the floor a node:net server pays per idle socket after a
 * handshake-sized exchange).
 *
 * With `record`, every device's messages feed per-phase latency histograms: a benchmark's
 * message carries `data: {s, p}`, `s` the time it was due to be sent (unix ms with
 * sub-millisecond digits, performance.timeOrigin + performance.now() of the sender: the
 * same clock on one machine) and `p` its phase; latency = receive time − s.
 */
import net from 'node:net';
import type { Histogram } from 'hdr-histogram-js';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import { WireCodec } from '../../src/protocol/index.js';
import { encodeHistogram, latencyHistogram, nowMs } from './latency.js';

export interface SwarmDevice {
  appId: string;
  dev: string;
  secret: string;
}

export interface SwarmPlan {
  mode: 'sdk' | 'tcp';
  port: number;
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
}

export interface SwarmReport {
  connected: number;
  failed: number;
  startedAt: number;
  doneAt: number;
}

const held: Array<{ close(): unknown }> = [];

interface PhaseRecord {
  count: number;
  firstAt: number;
  lastAt: number;
  histogram: Histogram;
}
const phases = new Map<string, PhaseRecord>();

/** One listener shared by every client (no closure per device). */
function onMessage(m: PushMessage): void {
  const data = m.data as { s?: unknown; p?: unknown } | undefined;
  if (typeof data?.s !== 'number' || typeof data.p !== 'string') return;
  const now = nowMs();
  let rec = phases.get(data.p);
  if (!rec) {
    rec = { count: 0, firstAt: now, lastAt: now, histogram: latencyHistogram() };
    phases.set(data.p, rec);
  }
  rec.count++;
  rec.lastAt = now;
  rec.histogram.recordValue(Math.max(1, Math.round((now - data.s) * 1000)));
}

function collect(): PhaseSample[] {
  const out: PhaseSample[] = [];
  for (const [phase, r] of phases) {
    out.push({ phase, count: r.count, firstAt: r.firstAt, lastAt: r.lastAt, histogram: encodeHistogram(r.histogram) });
    r.histogram.destroy();
  }
  phases.clear();
  return out;
}

const HANDSHAKE_BYTES = Buffer.alloc(100, 1);
const PING_BYTES = Buffer.alloc(8, 5);

async function run(plan: SwarmPlan): Promise<SwarmReport> {
  const startedAt = Date.now();
  const total = plan.mode === 'sdk' ? plan.devices.length : plan.count;
  const codec = new WireCodec();
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
  client.on('connected', () => settle(true));
  client.on('stopped', () => settle(false));
  client.start().catch(() => settle(false));
  held.push({ close: () => client.close() });
}

process.on('message', (msg: { cmd: 'connect'; plan: SwarmPlan } | { cmd: 'collect' } | { cmd: 'stop' }) => {
  if (msg.cmd === 'connect') {
    run(msg.plan).then((report) => process.send!({ ev: 'connected', ...report }));
  } else if (msg.cmd === 'collect') {
    process.send!({ ev: 'collected', phases: collect() });
  } else {
    for (const h of held) h.close();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
process.send!({ ev: 'ready' });
