/**
 * A client process holding thousands of devices for benchmarks (one process can hold
 * ~19,900 sockets here, so big runs fork several). Driven over IPC by the bench script:
 *   parent → {cmd:'connect', ...SwarmPlan}   worker → {ev:'connected', ...SwarmReport}
 *   parent → {cmd:'stop'}                    worker exits
 * Modes: 'sdk' runs real PetrelClients (HELLO, heartbeats, ACKs); 'tcp' opens bare sockets
 * (the floor a node:net server pays per idle socket after a
 * handshake-sized exchange).
 */
import net from 'node:net';
import { MemoryStore, PetrelClient } from '../../sdk-client/src/index.js';
import { WireCodec } from '../../src/protocol/index.js';

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
}

export interface SwarmReport {
  connected: number;
  failed: number;
  startedAt: number;
  doneAt: number;
}

const held: Array<{ close(): unknown }> = [];
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
  client.on('connected', () => settle(true));
  client.on('stopped', () => settle(false));
  client.start().catch(() => settle(false));
  held.push({ close: () => client.close() });
}

process.on('message', (msg: { cmd: 'connect'; plan: SwarmPlan } | { cmd: 'stop' }) => {
  if (msg.cmd === 'connect') {
    run(msg.plan).then((report) => process.send!({ ev: 'connected', ...report }));
  } else {
    for (const h of held) h.close();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
process.send!({ ev: 'ready' });
