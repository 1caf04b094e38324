/**
 * Unicast end to end (issue #3): HTTP accept → PUSH received and ACKed by the device, with
 * BENCH_DEVICES devices online, every tier, Redis and the load on this machine.
 *
 * Processes: the service (`petrel all`, what `npm start` runs; BENCH_LAYOUT=split runs
 * gateway, dispatcher and api as three), device processes holding the fleet with the real
 * SDK (bench/lib/device-swarm.ts; they ACK every PUSH and histogram its latency), an app
 * server posting POST /v1/messages over keep-alive connections (bench/peers/http-sender.ts)
 * and this orchestrator, which also holds the few devices of the replay check.
 *
 * Latency is device receive time − the time the message was due to be sent (open loop,
 * carried in the message: no coordinated omission), HDR histograms merged across processes.
 *
 * Phases of one run:
 *   warm-up      BENCH_WARMUP_S at 500/s (JIT, pools), not reported
 *   latency      BENCH_LATENCY_RATE (1,000/s) for BENCH_LATENCY_S (10 s): p50, p99, max
 *   ramp         the rates of BENCH_RAMP_STEPS (250, 500, 750, 1,000, 1,500, 2,000, 3,000 … 20,000/s)
 *                for BENCH_STEP_S (2 s) each, drained in between, until one is not kept up
 *   sustain      the highest step kept up (or BENCH_SUSTAIN_RATE) for BENCH_SUSTAIN_S (10 s):
 *                ACKed/s, Redis commands per message, CPU of every process, optional profile
 *   replay       BENCH_REPLAY_ROUNDS (10) times: a device leaves, BENCH_REPLAY_PENDING (100)
 *                messages are sent to it and stored, it comes back: HELLO sent → last PUSH
 * "Kept up": every accepted message reached its device, the sender held its schedule (≥ 95 %)
 * and p99 ≤ BENCH_P99_LIMIT_MS (250): an overloaded pipeline queues, and its latency grows
 * with the length of the step.
 *
 * Env: BENCH_RUNS (3: figures are medians), BENCH_DEVICES (10,000), BENCH_CLIENT_PROCS (2),
 *      BENCH_QUICK=1 (2,000 devices, 3 s phases, 1 run), BENCH_HTTP_CONNECTIONS (64),
 *      BENCH_WARMUP_S (5), BENCH_QUIET_WAIT_S (120: before each measured phase, wait this
 *      long at most for other processes to use < 10 % of a core; figures measured while
 *      they did not are flagged noisy),
 *      BENCH_BATCH (1: POST /v1/messages per message; n > 1: n messages per POST
 *      /v1/messages/batch, rates still in messages/s),
 *      BENCH_LAYOUT (all | split), BENCH_CPU_PROF=1 (profile the service; top self time
 *      during the sustain phase goes in the results; profiling slows it, so use it apart),
 *      BENCH_PEERS (mosquitto,aedes,aedes-redis; `none` by default with BENCH_BATCH: MQTT
 *      brokers driven after Petrel in every run with the same fleet size and schedule,
 *      warm-up, latency phase and ramp, as QoS 1 subscribers of a topic each; aedes-redis is
 *      aedes with aedes-persistence-redis and persistent sessions, the durable variant).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis as IORedis, type Redis } from 'ioredis';
import type { Histogram } from 'hdr-histogram-js';
import { MemoryStore, PetrelClient } from '../sdk-client/src/index.js';
import { FrameType, WireCodec } from '../src/protocol/index.js';
import type { RedisKeys } from '../src/store/keys.js';
import { monotonicMicros, topSelfTime, type ProfileSummary } from './lib/cpu-profile.js';
import { otherProcesses, waitForQuiet } from './lib/cpu-meter.js';
import type { PhaseSample, SwarmDevice } from './lib/device-swarm.js';
import { addEncoded, latencyHistogram, nowMs, summarize, type LatencySummary } from './lib/latency.js';
import { allProcessCpu, cpuSeconds, machineCpuSeconds, median, sleep } from './lib/proc.js';
import { provisionTenant, type BenchTenant } from './lib/provision.js';
import { redisFigures, redisPid, redisSnapshot, type RedisFigures } from './lib/redis-stats.js';
import { knob, quick } from './lib/knobs.js';
import { ensureMosquitto, startAedes, startMosquitto } from './lib/mqtt-brokers.js';
import { report, resultsDir } from './lib/results.js';
import { Sender } from './lib/sender.js';
import { scrape, startPetrel, waitForPort, type ServiceProcess } from './lib/service-process.js';
import { Swarm } from './lib/swarm.js';


const runs = knob('BENCH_RUNS', 3, 1);
const devicesWanted = knob('BENCH_DEVICES', 10_000, 2_000);
const clientProcs = knob('BENCH_CLIENT_PROCS', 2);
const httpConnections = knob('BENCH_HTTP_CONNECTIONS', 64);
const warmupSec = knob('BENCH_WARMUP_S', 5, 2);
const latencyRate = knob('BENCH_LATENCY_RATE', 1_000);
const latencySec = knob('BENCH_LATENCY_S', 10, 3);
/** Offered rates of the ramp, in order; it stops at the first step not kept up. */
const rampSteps = (process.env['BENCH_RAMP_STEPS'] ?? (quick ? '250,500,1000,2000,3000,5000,7000,10000' : '250,500,750,1000,1500,2000,3000,4000,5000,6000,7000,8000,10000,12000,15000,20000'))
  .split(',').map(Number);
if (rampSteps.some((r) => !(r > 0))) throw new Error(`BENCH_RAMP_STEPS=${process.env['BENCH_RAMP_STEPS']}: positive rates, comma-separated`);
const stepSec = knob('BENCH_STEP_S', 2, 1);
/** Messages per request: 1 posts POST /v1/messages; more posts POST /v1/messages/batch (rates stay in messages/s). */
const batch = knob('BENCH_BATCH', 1);
const sustainSec = knob('BENCH_SUSTAIN_S', 10, 3);
const sustainRateOverride = process.env['BENCH_SUSTAIN_RATE'] ? knob('BENCH_SUSTAIN_RATE', 0) : null;
const p99LimitMs = knob('BENCH_P99_LIMIT_MS', 250);
const replayRounds = knob('BENCH_REPLAY_ROUNDS', 10, 3);
const replayPending = knob('BENCH_REPLAY_PENDING', 100);
const layout = process.env['BENCH_LAYOUT'] ?? 'all';
const cpuProf = process.env['BENCH_CPU_PROF'] === '1';
/** Before a measured phase, wait up to this long for other processes to go quiet. */
const quietWaitSec = knob('BENCH_QUIET_WAIT_S', 120, 10);
if (layout !== 'all' && layout !== 'split') throw new Error(`BENCH_LAYOUT=${layout}: all or split`);

/**
 * MQTT brokers driven with the same schedule after Petrel in every run (issue #6): QoS 1
 * subscribers of a topic each, a publisher per message. aedes-redis is aedes's durable
 * variant (aedes-persistence-redis, persistent sessions).
 */
const PEERS = ['mosquitto', 'aedes', 'aedes-redis'] as const;
type Peer = typeof PEERS[number];
const peers = (process.env['BENCH_PEERS'] ?? (batch > 1 ? 'none' : PEERS.join(','))).split(',').map((p) => p.trim()).filter((p) => p !== '' && p !== 'none') as Peer[];
for (const p of peers) if (!PEERS.includes(p)) throw new Error(`BENCH_PEERS: ${p} is not one of ${PEERS.join(', ')}`);
const PEER_PORT = 11_883;
/** Publisher connections of the MQTT sender (Petrel's sender has BENCH_HTTP_CONNECTIONS). */
const MQTT_PUBLISHERS = 8;

/** Devices the orchestrator holds itself for the replay check (part of the fleet). */
const REPLAY_DEVICES = Math.min(replayRounds, 10);
const HEARTBEAT_SEC = 240;
const GATEWAY_PORT = 15223;
const HTTP_PORT = 18080;
const GATEWAY_OPS_PORT = 15290;
const DISPATCH_OPS_PORT = 15291;
const DISPATCH_PORT = 15300;
/** Another process using more than this share of a core during a measured phase makes its figures noisy. */
const NOISE_CORE_SHARE = 0.1;

const NAME = `unicast${layout === 'split' ? '-split' : ''}${batch > 1 ? `-batch${batch}` : ''}${quick ? '-quick' : ''}${cpuProf ? '-profiled' : ''}`;
const repoRoot = join(resultsDir(), '..', '..');
const stateDir = join(repoRoot, '.petrel', 'bench-unicast');

const log = (text: string) => process.stdout.write(`unicast: ${text}\n`);

/** Child processes to stop if a run fails half-way (else they would outlive us). */
const running = new Set<() => Promise<void> | void>();
const round = (n: number, digits = 0) => Number(n.toFixed(digits));
/** aedes-redis → aedesRedis: field names of the peers' figures. */
const camel = (name: string) => name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

// ---------------------------------------------------------------------------------------
// The service

interface Service {
  /** Tier name → pid. */
  pids: Record<string, number>;
  /** Where the gateway's counters are (ACKs, PUSHes) and the API's (messages accepted). */
  gatewayMetrics: string;
  apiMetrics: string;
  dispatcherMetrics: string;
  stop(): Promise<void>;
  /** Tier name → .cpuprofile written on exit (BENCH_CPU_PROF=1). */
  profiles: Record<string, string>;
}

async function startService(tenant: BenchTenant, profileDir: string): Promise<Service> {
  const dataDir = join(stateDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const env = {
    PETREL_REDIS_URL: process.env['PETREL_BENCH_REDIS_URL']!,
    PETREL_REDIS_KEY_PREFIX: tenant.keys.prefix,
    PETREL_DEVICE_KEY: tenant.deviceKey.toString('base64'),
    PETREL_DATA_DIR: dataDir,
    PETREL_GATEWAY_HOST: '0.0.0.0',
    PETREL_GATEWAY_PORT: String(GATEWAY_PORT),
    PETREL_HTTP_HOST: '127.0.0.1',
    PETREL_HTTP_PORT: String(HTTP_PORT),
  };
  const nodeArgs = (tier: string) => (cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${tier}.cpuprofile`] : []);
  const started: Array<[string, ServiceProcess]> = [];
  if (layout === 'all') {
    // `all` starts the API, then the dispatcher, then the gateway: its port opens last.
    started.push(['all', await startPetrel('all', env, GATEWAY_PORT, nodeArgs('all'))]);
  } else {
    started.push(['dispatcher', await startPetrel('dispatcher', { ...env, PETREL_DISPATCH_PORT: String(DISPATCH_PORT), PETREL_OPS_PORT: String(DISPATCH_OPS_PORT) }, DISPATCH_PORT, nodeArgs('dispatcher'))]);
    started.push(['gateway', await startPetrel('gateway', { ...env, PETREL_OPS_PORT: String(GATEWAY_OPS_PORT) }, GATEWAY_PORT, nodeArgs('gateway'))]);
    started.push(['api', await startPetrel('api', env, HTTP_PORT, nodeArgs('api'))]);
  }
  await waitForPort(HTTP_PORT);
  const api = `http://127.0.0.1:${HTTP_PORT}/metrics`;
  return {
    pids: Object.fromEntries(started.map(([tier, p]) => [tier, p.pid])),
    gatewayMetrics: layout === 'all' ? api : `http://127.0.0.1:${GATEWAY_OPS_PORT}/metrics`,
    apiMetrics: api,
    dispatcherMetrics: layout === 'all' ? api : `http://127.0.0.1:${DISPATCH_OPS_PORT}/metrics`,
    profiles: cpuProf ? Object.fromEntries(started.map(([tier]) => [tier, join(profileDir, `${tier}.cpuprofile`)])) : {},
    async stop() {
      // Gateway first (its devices are gone by now), the dispatcher last.
      for (const [, p] of [...started].reverse()) await p.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------
// What the devices received, per phase, merged over processes and collects

interface Received {
  count: number;
  firstAt: number;
  lastAt: number;
  histogram: Histogram;
}

class Deliveries {
  private readonly phases = new Map<string, Received>();

  constructor(private readonly swarm: Swarm) {}

  async gather(): Promise<void> {
    for (const s of await this.swarm.collect()) this.merge(s);
  }

  get(phase: string): Received {
    let r = this.phases.get(phase);
    if (!r) {
      r = { count: 0, firstAt: Infinity, lastAt: 0, histogram: latencyHistogram() };
      this.phases.set(phase, r);
    }
    return r;
  }

  /** Gathers until `expected` messages of `phase` arrived, or none came for `quietMs`. */
  async waitFor(phase: string, expected: number, quietMs = 3000): Promise<Received> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      await this.gather();
      const r = this.get(phase);
      if (r.count >= expected) return r;
      if (r.count !== last) {
        last = r.count;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > quietMs) {
        return r;
      }
      await sleep(100);
    }
  }

  private merge(s: PhaseSample): void {
    const r = this.get(s.phase);
    r.count += s.count;
    r.firstAt = Math.min(r.firstAt, s.firstAt);
    r.lastAt = Math.max(r.lastAt, s.lastAt);
    addEncoded(r.histogram, s.histogram);
  }
}

// ---------------------------------------------------------------------------------------
// CPU and Redis accounting over a window

interface CpuSnapshot {
  at: number;
  service: number;
  tiers: Record<string, number>;
  redis: number;
  swarm: number;
  sender: number;
  orchestrator: number;
  machine: { busy: number; total: number };
  all: Map<number, { name: string; seconds: number }>;
}

interface CpuFigures {
  /** Percent of one core over the window. */
  servicePercent: number;
  /** Per service process (one, `all`, unless BENCH_LAYOUT=split). */
  tierPercent: Record<string, number>;
  redisPercent: number;
  devicesPercent: number;
  senderPercent: number;
  orchestratorPercent: number;
  machineBusyPercent: number;
  /** Processes that are not part of this benchmark (another engineer's test run...). */
  otherProcessesPercent: number;
  otherProcesses: Array<{ pid: number; command: string; percent: number }>;
}

class CpuMeter {
  private readonly servicePids: number[];

  constructor(
    private readonly tiers: Record<string, number>,
    private readonly redisPid: number,
    private readonly swarm: Swarm,
    private readonly senderPid: number,
  ) {
    this.servicePids = Object.values(tiers);
  }

  private ours(): Set<number> {
    return new Set([...this.servicePids, this.redisPid, ...this.swarm.pids, this.senderPid, process.pid]);
  }

  snapshot(): CpuSnapshot {
    const u = process.cpuUsage();
    return {
      at: Date.now(),
      service: this.servicePids.reduce((s, pid) => s + cpuSeconds(pid), 0),
      tiers: Object.fromEntries(Object.entries(this.tiers).map(([tier, pid]) => [tier, cpuSeconds(pid)])),
      redis: cpuSeconds(this.redisPid),
      swarm: this.swarm.cpuSeconds(),
      sender: cpuSeconds(this.senderPid),
      orchestrator: (u.user + u.system) / 1e6,
      machine: machineCpuSeconds(),
      all: allProcessCpu(),
    };
  }

  figures(a: CpuSnapshot, b: CpuSnapshot): CpuFigures {
    const wall = (b.at - a.at) / 1000;
    const pct = (x: number) => round((x / wall) * 100, 1);
    const others = otherProcesses(a.all, b.all, this.ours(), wall);
    return {
      servicePercent: pct(b.service - a.service),
      tierPercent: Object.fromEntries(Object.keys(b.tiers).map((t) => [t, pct(b.tiers[t]! - a.tiers[t]!)])),
      redisPercent: pct(b.redis - a.redis),
      devicesPercent: pct(b.swarm - a.swarm),
      senderPercent: pct(b.sender - a.sender),
      orchestratorPercent: pct(b.orchestrator - a.orchestrator),
      machineBusyPercent: pct(b.machine.busy - a.machine.busy),
      ...others,
    };
  }
}

/** Waits (up to BENCH_QUIET_WAIT_S) until other processes use less than NOISE_CORE_SHARE of a core for a second. */
function waitQuiet(cpu: CpuMeter): Promise<void> {
  return waitForQuiet(cpu, { maxWaitSec: quietWaitSec, noiseShare: NOISE_CORE_SHARE, log });
}

// ---------------------------------------------------------------------------------------
// Phases

interface PhaseResult {
  phase: string;
  offeredRate: number;
  /** What the sender achieved (messages issued per second). */
  issueRate: number;
  senderMaxLagMs: number;
  accepted: number;
  rejected: number;
  failures: Record<string, number>;
  delivered: number;
  lost: number;
  /** Steady-state ACKs per second: the gateway's ACK counter, from 1 s into the phase to its end. */
  ackedPerSecond: number;
  /** Messages received / (last received − first due). */
  deliveredPerSecond: number;
  /** Last message due → last received, ms: how long the pipeline took to drain. */
  drainMs: number;
  latency: LatencySummary;
  /** Due → HTTP 202 received by the sender. */
  accept: LatencySummary;
  keptUp: boolean;
}

interface Harness {
  sender: Sender;
  deliveries: Deliveries;
  /** The server's count of ACKs received so far (Petrel's gateway counter); none for the peers. */
  ackedTotal?: () => Promise<number>;
}

async function runPhase(h: Harness, phase: string, rate: number, seconds: number): Promise<PhaseResult> {
  const acked = h.ackedTotal ?? (() => Promise.resolve(0));
  const t0 = Date.now();
  const requestRate = rate / batch;
  const sending = h.sender.run({ phase, rate: requestRate, durationMs: seconds * 1000, ...(batch > 1 ? { batch } : {}) });
  // The ACK counter a second into the phase (pipeline filled) and at its end: two scrapes
  // only, since each costs the service a listing of its ~10,000 open descriptors.
  const samples: Array<[number, number]> = [];
  await sleep(Math.min(1000, (seconds * 1000) / 4));
  samples.push([Date.now(), await acked()]);
  await sleep(Math.max(0, t0 + seconds * 1000 - Date.now()));
  samples.push([Date.now(), await acked()]);
  const sent = await sending;
  const accepted = batch > 1 ? sent.messagesAccepted : sent.accepted;
  const received = await h.deliveries.waitFor(phase, accepted);
  const first = samples[0];
  const last = samples[samples.length - 1];
  const ackedPerSecond = first && last && last[0] > first[0] ? ((last[1] - first[1]) * 1000) / (last[0] - first[0]) : 0;
  const accept = latencyHistogram();
  addEncoded(accept, sent.acceptHistogram);
  const latency = summarize(received.histogram);
  const lastDue = sent.startedAt + ((sent.planned - 1) * 1000) / requestRate;
  const result: PhaseResult = {
    phase,
    offeredRate: rate,
    issueRate: sent.issueRate * batch,
    senderMaxLagMs: sent.maxLagMs,
    accepted,
    rejected: sent.rejected,
    failures: sent.failures,
    delivered: received.count,
    lost: accepted - received.count,
    ackedPerSecond: round(ackedPerSecond),
    deliveredPerSecond: received.count > 0 ? round((received.count * 1000) / (received.lastAt - sent.startedAt)) : 0,
    drainMs: received.count > 0 ? round(received.lastAt - lastDue, 1) : 0,
    latency,
    accept: summarize(accept),
    keptUp: sent.rejected === 0 && received.count >= accepted && sent.issueRate * batch >= 0.95 * rate && latency.p99Ms <= p99LimitMs,
  };
  accept.destroy();
  return result;
}

function describePhase(r: PhaseResult): string {
  return `${r.phase}: ${r.offeredRate}/s offered, ${r.issueRate}/s issued, ${r.delivered}/${r.accepted} delivered, ` +
    `${r.ackedPerSecond > 0 ? `ACKed ${r.ackedPerSecond}/s, ` : ''}p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms, max ${r.latency.maxMs} ms` +
    `${r.rejected ? `, ${r.rejected} rejected ${JSON.stringify(r.failures)}` : ''}${r.keptUp ? '' : '  — not kept up'}`;
}

/** A codec that notes when it encodes a HELLO: the moment the device asks to come back. */
class HelloTimingCodec extends WireCodec {
  helloAt = 0;

  override encode(frame: Parameters<WireCodec['encode']>[0]): Buffer {
    if ((frame as { t?: number }).t === FrameType.HELLO) this.helloAt = nowMs();
    return super.encode(frame);
  }
}

function sdkClient(device: SwarmDevice, codec: WireCodec): PetrelClient {
  return new PetrelClient({
    host: '127.0.0.1',
    port: GATEWAY_PORT,
    appId: device.appId,
    clientKey: 'unused-devices-are-preregistered',
    store: new MemoryStore({ appId: device.appId, dev: device.dev, secret: device.secret, cursors: {}, seen: [] }),
    heartbeatSec: HEARTBEAT_SEC,
    codec,
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 5): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return nowMs();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface ReplayRound {
  /** HELLO sent → WELCOME received. */
  welcomeMs: number;
  /** HELLO sent → the last of the pending messages received. */
  allReceivedMs: number;
  /** HELLO sent → the device's inbox empty (every ACK reported and settled). */
  settledMs: number;
  received: number;
}

/** One device that was away comes back to `pending` stored messages. */
async function replayRound(h: Harness, redis: Redis, keys: RedisKeys, device: SwarmDevice, holder: { client: PetrelClient }, index: number): Promise<ReplayRound> {
  const phase = `replay-${index}`;
  await holder.client.close();
  await until('the OFFLINE report', async () => (await redis.exists(keys.route(device.dev))) === 0);
  const sent = await h.sender.run({ phase, rate: 5000, count: replayPending, targets: [device.dev] });
  if (sent.accepted !== replayPending) throw new Error(`replay: ${sent.accepted} of ${replayPending} accepted ${JSON.stringify(sent.failures)}`);
  await until('the messages in the inbox', async () => (await redis.zcard(keys.inbox(device.dev))) === replayPending);
  // Let the send jobs finish (trace writes, route lookups that find no route) first.
  await sleep(200);

  const codec = new HelloTimingCodec();
  const client = sdkClient(device, codec);
  holder.client = client;
  let received = 0;
  let welcomeAt = 0;
  let allAt = 0;
  const all = new Promise<void>((resolve) => {
    client.on('message', (m) => {
      if ((m.data as { p?: string } | undefined)?.p !== phase) return;
      if (++received === replayPending) {
        allAt = nowMs();
        resolve();
      }
    });
  });
  client.on('connected', () => (welcomeAt = nowMs()));
  await client.start();
  await Promise.race([all, sleep(10_000)]);
  const settledAt = await until('the inbox to empty', async () => (await redis.zcard(keys.inbox(device.dev))) === 0, 10_000, 2);
  if (received < replayPending) throw new Error(`replay: ${received} of ${replayPending} received within 10 s`);
  return {
    welcomeMs: round(welcomeAt - codec.helloAt, 2),
    allReceivedMs: round(allAt - codec.helloAt, 2),
    settledMs: round(settledAt - codec.helloAt, 1),
    received,
  };
}

// ---------------------------------------------------------------------------------------
// One whole run

interface PeerFigures {
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyLost: number;
  rampHighestKeptUp: number;
  /** Broker CPU (and Redis's, for the durable variant) per message in the latency phase. */
  cpuMicrosPerMessage: number;
}

/**
 * One MQTT peer with Petrel's schedule: the same fleet size as subscribers of a topic each
 * (`u/<client id>`, QoS 1) in the same client processes, the same open-loop sender over
 * MQTT (PUBACK standing for the 202), the same warm-up, latency phase and ramp.
 */
async function measurePeer(peer: Peer, redis: Redis): Promise<PeerFigures> {
  const durable = new URL(process.env['PETREL_BENCH_REDIS_URL']!);
  durable.pathname = '/1'; // the durable aedes's keys apart from Petrel's
  const broker = peer === 'mosquitto'
    ? await startMosquitto(ensureMosquitto(log), PEER_PORT, join(stateDir, 'mosquitto'))
    : await startAedes(PEER_PORT, [], peer === 'aedes-redis' ? durable.toString() : undefined);
  running.add(broker.stop);
  const swarm = await Swarm.start(clientProcs);
  const stopSwarm = () => swarm.stop();
  running.add(stopSwarm);
  try {
    const connect = await swarm.connect({
      mode: 'mqtt', port: PEER_PORT, concurrency: 256, heartbeatSec: HEARTBEAT_SEC, record: true,
      topics: ['u/{client}'], clientIdPrefix: 'u', persistentSession: peer === 'aedes-redis',
    }, [], devicesWanted);
    if (connect.failed > 0) throw new Error(`${peer}: ${connect.failed} subscribers failed to connect`);
    // The client ids the swarm gave: worker i's subscribers are u w<i>- 0…
    const targets = Array.from({ length: clientProcs }, (_, i) => Array.from({ length: Math.floor(devicesWanted / clientProcs) + (i < devicesWanted % clientProcs ? 1 : 0) }, (_, j) => `uw${i}-${j}`)).flat();
    const sender = await Sender.start({ transport: 'mqtt', host: '127.0.0.1', port: PEER_PORT, connections: MQTT_PUBLISHERS, serverSecret: '', devices: targets });
    try {
      const h: Harness = { sender, deliveries: new Deliveries(swarm) };
      log(`${peer}: ${connect.connected} subscribers; warm-up 500/s for ${warmupSec} s`);
      await runPhase(h, 'warmup', 500, warmupSec);
      const redisProcess = await redisPid(redis);
      const cpu = () => cpuSeconds(broker.pid) + (peer === 'aedes-redis' ? cpuSeconds(redisProcess) : 0);
      const cpu0 = cpu();
      const latency = await runPhase(h, 'latency', latencyRate, latencySec);
      const cpuMicrosPerMessage = ((cpu() - cpu0) * 1e6) / Math.max(1, latency.delivered);
      log(`${peer} ${describePhase(latency)}`);
      let best = 0;
      for (const rate of rampSteps) {
        await sleep(500);
        const step = await runPhase(h, `ramp-${rate}`, rate, stepSec);
        log(`${peer} ${describePhase(step)}`);
        if (!step.keptUp) break;
        best = rate;
      }
      return { latencyP50Ms: latency.latency.p50Ms, latencyP99Ms: latency.latency.p99Ms, latencyLost: latency.lost, rampHighestKeptUp: best, cpuMicrosPerMessage: round(cpuMicrosPerMessage) };
    } finally {
      sender.stop();
    }
  } finally {
    await swarm.stop();
    await broker.stop();
    running.delete(stopSwarm);
    running.delete(broker.stop);
    if (peer === 'aedes-redis') {
      const db = new IORedis(durable.toString());
      await db.flushdb();
      await db.quit();
    }
  }
}

async function runOnce(run: number) {
  log(`provisioning ${devicesWanted} devices…`);
  const tenant = await provisionTenant('unicast', devicesWanted);
  const { redis, keys } = tenant;
  const profileDir = join(stateDir, `profile-run${run}`);
  rmSync(profileDir, { recursive: true, force: true });

  log(`starting the service (${layout === 'all' ? 'petrel all' : 'petrel dispatcher + gateway + api'})…`);
  const service = await startService(tenant, profileDir);
  const stopService = () => service.stop();
  running.add(stopService);
  await sleep(1000);

  const replayDevices = tenant.devices.slice(devicesWanted - REPLAY_DEVICES);
  const fleet = tenant.devices.slice(0, devicesWanted - REPLAY_DEVICES);
  const swarm = await Swarm.start(clientProcs);
  const stopSwarm = () => swarm.stop();
  running.add(stopSwarm);
  log(`connecting ${fleet.length} devices from ${clientProcs} processes (+${replayDevices.length} held here)…`);
  const connect = await swarm.connect({ mode: 'sdk', port: GATEWAY_PORT, concurrency: 256, heartbeatSec: HEARTBEAT_SEC, record: true }, fleet);
  const holders = replayDevices.map((d) => ({ client: sdkClient(d, new WireCodec()) }));
  await Promise.all(holders.map(async (hd) => {
    const up = hd.client.waitFor('connected');
    await hd.client.start();
    await up;
  }));
  if (connect.failed > 0) throw new Error(`${connect.failed} devices failed to connect`);
  // Every ONLINE report handled: a message sent before its device's route exists would
  // wait in the inbox for the device's next session.
  await until('every device route', async () => {
    const p = redis.pipeline();
    for (const d of tenant.devices) p.exists(keys.route(d.dev));
    const res = (await p.exec()) ?? [];
    return res.every(([, v]) => v === 1);
  }, 60_000, 250);
  log(`${connect.connected + holders.length} devices online (${Math.round(connect.perSecond)} connects/s)`);

  const sender = await Sender.start({ host: '127.0.0.1', port: HTTP_PORT, connections: httpConnections, serverSecret: tenant.serverSecret, devices: fleet.map((d) => d.dev) });
  const stopSender = () => sender.stop();
  running.add(stopSender);
  const deliveries = new Deliveries(swarm);
  const h: Harness = { sender, deliveries, ackedTotal: () => scrape(service.gatewayMetrics, 'petrel_gateway_acked_ids_total') };
  const cpu = new CpuMeter(service.pids, await redisPid(redis), swarm, sender.pid);

  log(`warm-up: 500/s for ${warmupSec} s`);
  await runPhase(h, 'warmup', 500, warmupSec);

  // What Redis runs with nothing sent (BullMQ's blocking fetch, registry refreshes).
  const idle0 = await redisSnapshot(redis);
  const idleCpu0 = cpu.snapshot();
  await sleep(2000);
  const idleCpu = cpu.figures(idleCpu0, cpu.snapshot());
  const idleRedis = redisFigures(idle0, await redisSnapshot(redis), 2);

  await waitQuiet(cpu);
  log(`latency: ${latencyRate}/s for ${latencySec} s`);
  const c0 = cpu.snapshot();
  const latency = await runPhase(h, 'latency', latencyRate, latencySec);
  const latencyCpu = cpu.figures(c0, cpu.snapshot());
  log(describePhase(latency));

  await waitQuiet(cpu);
  const rampCpu0 = cpu.snapshot();
  const steps: PhaseResult[] = [];
  let best = -1;
  for (const [i, rate] of rampSteps.entries()) {
    await sleep(500);
    const step = await runPhase(h, `ramp-${rate}`, rate, stepSec);
    steps.push(step);
    log(describePhase(step));
    if (!step.keptUp) break;
    best = i;
  }
  const rampCpu = cpu.figures(rampCpu0, cpu.snapshot());
  const bestStep = best >= 0 ? rampSteps[best]! : 0;
  // Under overload the ACK rate is what the pipeline delivers flat out.
  const overloaded = steps.find((s) => !s.keptUp);

  // The sustained phase at the highest rate kept up; if it does not hold for the whole
  // phase, once more a step lower.
  let stepIndex = Math.max(0, best);
  let sustainRate = sustainRateOverride ?? rampSteps[stepIndex]!;
  let sustain: PhaseResult;
  let sustainCpu: CpuFigures;
  let sustainRedis: RedisFigures;
  let sustainJobs = 0;
  let profileWindow: [number, number] = [0, 0];
  const sustainAttempts: PhaseResult[] = [];
  for (let attempt = 1; ; attempt++) {
    await sleep(1000);
    await waitQuiet(cpu);
    log(`sustain: ${sustainRate}/s for ${sustainSec} s${attempt > 1 ? ' (again, one step lower)' : ''}`);
    const r0 = await redisSnapshot(redis);
    const jobs0 = await scrape(service.dispatcherMetrics, 'petrel_dispatch_send_job_duration_seconds_count');
    const s0 = cpu.snapshot();
    const p0 = monotonicMicros();
    sustain = await runPhase(h, `sustain-${sustainRate}`, sustainRate, sustainSec);
    const p1 = monotonicMicros();
    // Let the last ACKs be reported and settled before reading Redis again.
    await sleep(500);
    sustainCpu = cpu.figures(s0, cpu.snapshot());
    sustainRedis = redisFigures(r0, await redisSnapshot(redis), sustain.delivered);
    sustainJobs = (await scrape(service.dispatcherMetrics, 'petrel_dispatch_send_job_duration_seconds_count')) - jobs0;
    profileWindow = [p0, p1];
    sustainAttempts.push(sustain);
    log(describePhase(sustain));
    if (sustain.keptUp || attempt === 2 || sustainRateOverride !== null || stepIndex === 0) break;
    sustainRate = rampSteps[--stepIndex]!;
  }

  log(`replay: ${replayRounds} × a device coming back to ${replayPending} pending messages`);
  const replays: ReplayRound[] = [];
  for (let i = 0; i < replayRounds; i++) {
    replays.push(await replayRound(h, redis, keys, replayDevices[i % replayDevices.length]!, holders[i % holders.length]!, i));
  }
  log(`replay: HELLO → ${replayPending}th PUSH ${replays.map((r) => r.allReceivedMs).join(', ')} ms`);

  const resent = await scrape(service.gatewayMetrics, 'petrel_gateway_pushes_resent_total');
  sender.stop();
  await Promise.all(holders.map((hd) => hd.client.close()));
  await swarm.stop();
  await service.stop();
  for (const stop of [stopSender, stopSwarm, stopService]) running.delete(stop);
  // The peers after Petrel, in the same run, on the same machine state.
  const peerFields: Record<string, number> = {};
  for (const peer of peers) {
    log(`peer ${peer}: the same fleet and schedule over MQTT`);
    const f = await measurePeer(peer, redis);
    for (const [k, v] of Object.entries(f)) peerFields[`${camel(peer)}${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
  }
  log('cleaning up Redis…');
  await tenant.cleanup();

  let profile: Record<string, ProfileSummary> | null = null;
  if (cpuProf) {
    profile = {};
    for (const [tier, file] of Object.entries(service.profiles)) {
      if (existsSync(file)) profile[tier] = topSelfTime(file, profileWindow[0], profileWindow[1], 15, repoRoot + '/');
      else log(`no profile written for ${tier} (${file})`);
    }
  }

  const noisy = [latencyCpu, rampCpu, sustainCpu!].some((c) => c.otherProcessesPercent > NOISE_CORE_SHARE * 100);
  const replayReceived = replays.map((r) => r.allReceivedMs);
  return {
    figures: {
      devices: devicesWanted,
      connected: connect.connected + holders.length,
      latencyRate,
      latencyP50Ms: latency.latency.p50Ms,
      latencyP90Ms: latency.latency.p90Ms,
      latencyP99Ms: latency.latency.p99Ms,
      latencyP999Ms: latency.latency.p999Ms,
      latencyMaxMs: latency.latency.maxMs,
      latencyDelivered: latency.delivered,
      latencyLost: latency.lost,
      acceptP50Ms: latency.accept.p50Ms,
      acceptP99Ms: latency.accept.p99Ms,
      latencyServiceCpuPercent: latencyCpu.servicePercent,
      latencyRedisCpuPercent: latencyCpu.redisPercent,
      rampHighestKeptUp: bestStep,
      overloadAckedPerSecond: overloaded?.ackedPerSecond ?? 0,
      sustainedRate: sustain!.keptUp ? sustain!.offeredRate : 0,
      sustainOfferedRate: sustain!.offeredRate,
      sustainKeptUp: sustain!.keptUp ? 1 : 0,
      sustainAckedPerSecond: sustain!.ackedPerSecond,
      sustainDeliveredPerSecond: sustain!.deliveredPerSecond,
      sustainIssueRate: sustain!.issueRate,
      sustainLost: sustain!.lost,
      sustainP50Ms: sustain!.latency.p50Ms,
      sustainP99Ms: sustain!.latency.p99Ms,
      sustainMaxMs: sustain!.latency.maxMs,
      messagesPerSendJob: round(sustain!.accepted / Math.max(1, sustainJobs), 2),
      redisCommandsPerMessage: sustainRedis!.commandsPerMessage,
      redisScriptCallsPerMessage: sustainRedis!.scriptCallsPerMessage,
      redisReadsPerMessage: sustainRedis!.readsPerMessage,
      redisCpuMicrosPerMessage: sustainRedis!.redisCpuMicrosPerMessage,
      serviceCpuPercent: sustainCpu!.servicePercent,
      redisCpuPercent: sustainCpu!.redisPercent,
      devicesCpuPercent: sustainCpu!.devicesPercent,
      senderCpuPercent: sustainCpu!.senderPercent,
      machineBusyPercent: sustainCpu!.machineBusyPercent,
      otherProcessesCpuPercent: Math.max(latencyCpu.otherProcessesPercent, rampCpu.otherProcessesPercent, sustainCpu!.otherProcessesPercent),
      redisIdleCommandsPerSecond: round(idleRedis.commandsPerMessage, 1),
      serviceCpuMicrosPerMessage: round((sustainCpu!.servicePercent * 10_000) / Math.max(1, sustain!.ackedPerSecond || sustain!.offeredRate)),
      serviceIdleCpuPercent: idleCpu.servicePercent,
      replayMedianMs: median(replayReceived),
      replayMaxMs: Math.max(...replayReceived),
      replayWelcomeMedianMs: median(replays.map((r) => r.welcomeMs)),
      replaySettledMedianMs: median(replays.map((r) => r.settledMs)),
      pushesResent: resent,
      noisy: noisy ? 1 : 0,
      ...peerFields,
    },
    detail: {
      latency,
      idleCpu,
      latencyCpu,
      ramp: steps,
      rampCpu,
      sustain: sustain!,
      sustainAttempts: sustainAttempts.length > 1 ? sustainAttempts : undefined,
      sustainCpu: sustainCpu!,
      sustainRedis: sustainRedis!,
      replays,
      profile,
    },
  };
}

type RunResult = Awaited<ReturnType<typeof runOnce>>;
type Figures = RunResult['figures'];

async function main(): Promise<void> {
  const results: RunResult[] = [];
  for (let run = 1; run <= runs; run++) {
    if (runs > 1) log(`run ${run} of ${runs}`);
    results.push(await runOnce(run));
  }
  const m = Object.fromEntries(
    Object.keys(results[0]!.figures).map((k) => [k, median(results.map((r) => Number(r.figures[k as keyof Figures])))]),
  ) as { [K in keyof Figures]: number };
  const noisyRuns = results.filter((r) => r.figures.noisy).length;
  const targets = {
    sustainedThroughput: { target: '≥ 5,000 messages/s sustained', value: m.sustainedRate, unit: 'messages/s', met: m.sustainedRate >= 5000 },
    p50At1000: { target: 'p50 ≤ 10 ms at 1,000 messages/s', value: m.latencyP50Ms, unit: 'ms', met: latencyRate === 1000 && m.latencyP50Ms <= 10 },
    p99At1000: { target: 'p99 ≤ 50 ms at 1,000 messages/s', value: m.latencyP99Ms, unit: 'ms', met: latencyRate === 1000 && m.latencyP99Ms <= 50 },
    replay100Within200: { target: `a device reconnecting with ${replayPending} pending gets all within 200 ms (worst of ${replayRounds})`, value: m.replayMaxMs, unit: 'ms', met: replayPending === 100 && m.replayMaxMs <= 200 },
  };
  const interference = noisyRuns > 0
    ? `NOISY: in ${noisyRuns} of ${runs} runs other processes used more than ${NOISE_CORE_SHARE * 100} % of a core during a measured phase (see perRun[].detail.*Cpu.otherProcesses)`
    : 'none seen (other processes < 10 % of a core during measured phases)';
  const config = {
    layout, quick, runs, batch, devices: devicesWanted, clientProcesses: clientProcs, httpConnections, heartbeatSec: HEARTBEAT_SEC,
    warmupSec, latencyRate, latencySec, rampSteps, stepSec, sustainSec, sustainRateOverride,
    p99LimitMs, replayRounds, replayPending, cpuProfile: cpuProf, peers, mqttPublishers: MQTT_PUBLISHERS,
    sdk: 'PetrelClient defaults (ACKs batched up to 50 ms)',
    latencyDefinition: 'device receive time − time the message was due to be sent by the open-loop sender (HDR, µs resolution)',
  };
  const met = (k: keyof typeof targets) => (targets[k].met ? 'met' : 'NOT met');
  const profileRows: Array<[string, string]> = [];
  for (const [tier, summary] of Object.entries(results[0]!.detail.profile ?? {})) {
    profileRows.push([`top self time, ${tier} (run 1, sustain phase, % of busy)`, `${summary.busyMs} ms busy`]);
    for (const e of summary.top.filter((t) => t.percentOfBusy > 0).slice(0, 5)) {
      profileRows.push([`  ${e.function} ${e.location}`.slice(0, 90), `${e.percentOfBusy} %`]);
    }
  }
  report(NAME, { config, interference, ...m, targets, perRun: results }, [
    [`devices online (median of ${runs} run${runs > 1 ? 's' : ''}, layout ${layout})`, `${m.connected}`],
    [`latency at ${latencyRate}/s: p50`, `${m.latencyP50Ms.toFixed(2)} ms`, `≤ 10 ms: ${met('p50At1000')}`],
    ['  p99', `${m.latencyP99Ms.toFixed(2)} ms`, `≤ 50 ms: ${met('p99At1000')}`],
    ['  max', `${m.latencyMaxMs.toFixed(1)} ms`],
    ['  HTTP 202 p50 / p99', `${m.acceptP50Ms.toFixed(2)} / ${m.acceptP99Ms.toFixed(2)} ms`],
    [`ramp (${stepSec} s steps): highest rate kept up`, `${m.rampHighestKeptUp}/s`],
    ['  ACKed/s when overloaded', `${Math.round(m.overloadAckedPerSecond)}/s`],
    ['sustained throughput', `${m.sustainedRate}/s`, `≥ 5,000/s: ${met('sustainedThroughput')}`],
    ['  ACKed/s (steady state)', `${Math.round(m.sustainAckedPerSecond)}/s`],
    ['  p50 / p99 at that rate', `${m.sustainP50Ms.toFixed(1)} / ${m.sustainP99Ms.toFixed(1)} ms`],
    ['  messages per send job (BullMQ)', `${m.messagesPerSendJob}`],
    ['  Redis commands per message', `${m.redisCommandsPerMessage.toFixed(1)}`],
    ['    of them EVAL/EVALSHA', `${m.redisScriptCallsPerMessage.toFixed(2)}`],
    ['    Redis socket reads per message', `${m.redisReadsPerMessage.toFixed(2)}`],
    ['    Redis commands/s when idle', `${m.redisIdleCommandsPerSecond}`],
    ['  CPU: service / Redis / devices / sender', `${m.serviceCpuPercent} / ${m.redisCpuPercent} / ${m.devicesCpuPercent} / ${m.senderCpuPercent} %`],
    ...(layout === 'split' ? [['  CPU per tier (run 1)', Object.entries(results[0]!.detail.sustainCpu.tierPercent).map(([t, v]) => `${t} ${v}`).join(' / ') + ' %'] as [string, string]] : []),
    ['  service CPU per message', `${Math.round(m.serviceCpuMicrosPerMessage)} µs`],
    ['  service CPU with nothing sent', `${m.serviceIdleCpuPercent} %`],
    [`replay of ${replayPending} pending: median`, `${m.replayMedianMs.toFixed(1)} ms`],
    [`  worst of ${replayRounds}`, `${m.replayMaxMs.toFixed(1)} ms`, `≤ 200 ms: ${met('replay100Within200')}`],
    ...profileRows,
    ...peers.flatMap((p): Array<[string, string]> => {
      const f = (k: string) => m[`${camel(p)}${k}` as keyof Figures] ?? NaN;
      return [
        [`${p} (MQTT QoS 1, same fleet and schedule): p50 / p99 at ${latencyRate}/s`, `${f('LatencyP50Ms').toFixed(2)} / ${f('LatencyP99Ms').toFixed(2)} ms`],
        ['  highest rate kept up', `${f('RampHighestKeptUp')}/s (Petrel ${(m.rampHighestKeptUp / f('RampHighestKeptUp')).toFixed(2)}×)`],
        [`  CPU per message at ${latencyRate}/s${p === 'aedes-redis' ? ' (broker + Redis)' : ''}`, `${Math.round(f('CpuMicrosPerMessage'))} µs (Petrel service ${Math.round(m.latencyServiceCpuPercent * 10_000 / latencyRate)} µs)`],
      ];
    }),
    ['other processes on the machine (max)', `${m.otherProcessesCpuPercent} % of a core${noisyRuns > 0 ? ': NOISY' : ''}`],
  ]);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`unicast failed: ${(err as Error).stack ?? String(err)}\n`);
  for (const stop of [...running].reverse()) await Promise.resolve(stop()).catch(() => undefined);
  process.exit(1);
});
