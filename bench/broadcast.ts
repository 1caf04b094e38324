/**
 * Broadcast fan-out (issue #5): one message to every subscriber of a topic, N devices
 * online, deliveries per second with ACKs counted — Petrel side by side with mosquitto and
 * aedes, in the same run, on the same machine, driven by the same swarm.
 *
 * Processes: the system under test (Petrel: `petrel all`, or with BENCH_LAYOUT=split a
 * dispatcher, an api and the gateways as separate processes; BENCH_GATEWAYS=n runs n
 * gateways; mosquitto from Debian; aedes in its own Node process), client processes
 * holding the subscribers (bench/lib/device-swarm.ts: Petrel's real SDK, which SUBscribes
 * and ACKs; or MQTT 3.1.1 clients that SUBSCRIBE QoS 1 and PUBACK, same processes, same
 * recorder), Redis, and this orchestrator, which publishes (Petrel: POST /v1/messages to
 * the topic; MQTT: PUBLISH QoS 1 to the shared topic) and meters everyone's CPU.
 *
 * One trial (per system and subscriber count, in a fresh set of processes):
 *   subscribe   N devices connect and subscribe to one topic
 *   warm-up     BENCH_WARMUP_BROADCASTS broadcasts (JIT, pools), waited for, not reported
 *   measured    BENCH_BROADCASTS broadcasts, open loop at a steady pace that offers
 *               BENCH_OFFERED_RATE deliveries/s (more than any of the systems delivers
 *               here, so what is measured is each one's fan-out capacity), until every
 *               device received and ACKed each (or nothing moved for BENCH_DRAIN_QUIET_S)
 * Deliveries/s = messages received and ACKed / (last receive or ACK − first broadcast due).
 * For Petrel, the server's own count is read back too: the messages' traces
 * (`GET /v1/messages/{id}`: `sent` PUSHes written, `delivered` devices that ACKed).
 *
 * Env: BENCH_RUNS (3: figures are medians), BENCH_SUBSCRIBERS (10000,19000: a trial each),
 *      BENCH_SYSTEMS (petrel,mosquitto,aedes), BENCH_BROADCASTS (40), BENCH_WARMUP_BROADCASTS (5),
 *      BENCH_OFFERED_RATE (150,000 deliveries/s), BENCH_LAYOUT (all | split),
 *      BENCH_GATEWAYS (1; up to 19,000 devices each: open files are capped at 20,000 per
 *      process; the MQTT peers run only where N ≤ 19,000, one process), BENCH_CLIENT_PROCS
 *      (2 per gateway, at least one per 9,500 devices), BENCH_AUDIENCE (topic | all: Petrel's
 *      `to`), BENCH_PETREL_CLIENT (sdk | raw: Petrel's subscribers are the SDK, or a minimal
 *      client as light as the MQTT one), BENCH_QUIET_WAIT_S (60: before the measured phase, wait this long at most for
 *      other processes to use < 10 % of a core), BENCH_QUICK=1 (2,000 devices, 10
 *      broadcasts, 1 run), BENCH_CPU_PROF=1 (profile Petrel's processes; top self time in
 *      the measured window goes in the results; profiling slows it, so use it apart).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MqttBroadcastPublisher, PetrelPublisher, publishPaced, type BroadcastPublisher, type PacedPublish } from './lib/broadcast-publishers.js';
import { CpuMeter, type CpuFigures, waitForQuiet } from './lib/cpu-meter.js';
import { monotonicMicros, topSelfTime, type ProfileSummary } from './lib/cpu-profile.js';
import { Deliveries, deliveriesPerSecond, waitForServerCounts, type ServerCounts } from './lib/deliveries.js';
import { knob, quick } from './lib/knobs.js';
import { summarize, type LatencySummary } from './lib/latency.js';
import { ensureMosquitto, startAedes, startMosquitto, type MqttBroker } from './lib/mqtt-brokers.js';
import { median, rssBytes, sleep } from './lib/proc.js';
import { benchRedisUrl, provisionTenant, type BenchTenant } from './lib/provision.js';
import { redisPid } from './lib/redis-stats.js';
import { report, resultsDir } from './lib/results.js';
import { scrape, startPetrel, waitForPort, type ServiceProcess } from './lib/service-process.js';
import { Swarm } from './lib/swarm.js';

type System = 'petrel' | 'mosquitto' | 'aedes';

const runs = knob('BENCH_RUNS', 3, 1);
const sizes = (process.env['BENCH_SUBSCRIBERS'] ?? (quick ? '2000' : '10000,19000')).split(',').map(Number);
const systems = (process.env['BENCH_SYSTEMS'] ?? 'petrel,mosquitto,aedes').split(',') as System[];
const broadcasts = knob('BENCH_BROADCASTS', 40, 10);
const warmupBroadcasts = knob('BENCH_WARMUP_BROADCASTS', 5, 2);
const offeredRate = knob('BENCH_OFFERED_RATE', 150_000);
const layout = process.env['BENCH_LAYOUT'] ?? 'all';
const gateways = knob('BENCH_GATEWAYS', 1);
/**
 * Petrel's subscribers: 'sdk' (the real device SDK, as devices run it) or 'raw' (a minimal
 * client on the shared codec, the same weight as the MQTT client driving the peers).
 */
const petrelClient = (process.env['BENCH_PETREL_CLIENT'] ?? 'sdk') as 'sdk' | 'raw';
if (petrelClient !== 'sdk' && petrelClient !== 'raw') throw new Error(`BENCH_PETREL_CLIENT: ${String(petrelClient)} is not sdk or raw`);
const audience = process.env['BENCH_AUDIENCE'] ?? 'topic';
const cpuProf = process.env['BENCH_CPU_PROF'] === '1';
const quietWaitSec = knob('BENCH_QUIET_WAIT_S', 60, 10);
const drainQuietSec = knob('BENCH_DRAIN_QUIET_S', 10, 5);

/** Open files are capped at 20,000 per process here; leave room for everything else. */
const PER_PROCESS_SOCKETS = 19_000;
const HEARTBEAT_SEC = 240;
const TOPIC = 'bench-news';
const GATEWAY_PORT = 15223;
const HTTP_PORT = 18080;
const GATEWAY_OPS_PORT = 15290;
const DISPATCH_OPS_PORT = 15281;
const DISPATCH_PORT = 15300;
const MQTT_PORT = 11883;
/** Another process using more than this share of a core during the measured phase makes its figures noisy. */
const NOISE_CORE_SHARE = 0.1;

if (layout !== 'all' && layout !== 'split') throw new Error(`BENCH_LAYOUT=${layout}: all or split`);
if (audience !== 'topic' && audience !== 'all') throw new Error(`BENCH_AUDIENCE=${audience}: topic or all`);
if (!(gateways >= 1) || !Number.isInteger(gateways)) throw new Error(`BENCH_GATEWAYS=${gateways}: a whole number ≥ 1`);
for (const s of systems) if (!['petrel', 'mosquitto', 'aedes'].includes(s)) throw new Error(`BENCH_SYSTEMS: unknown system ${s}`);
for (const n of sizes) {
  if (!(n > 0) || !Number.isInteger(n)) throw new Error(`BENCH_SUBSCRIBERS: ${n} is not a device count`);
  if (n > PER_PROCESS_SOCKETS * gateways) throw new Error(`BENCH_SUBSCRIBERS: ${n} devices need ${Math.ceil(n / PER_PROCESS_SOCKETS)} gateways (BENCH_GATEWAYS) at ${PER_PROCESS_SOCKETS} each`);
}

/** Results file: the default run is `broadcast.json`; other layouts, systems and sizes say so in the name. */
const NAME = [
  'broadcast',
  layout === 'split' ? 'split' : '',
  gateways > 1 ? `${gateways}gw` : '',
  audience === 'all' ? 'all' : '',
  petrelClient === 'raw' ? 'raw' : '',
  process.env['BENCH_SYSTEMS'] ? systems.join('+') : '',
  process.env['BENCH_SUBSCRIBERS'] && !quick ? sizes.join('+') : '',
  quick ? 'quick' : '',
  cpuProf ? 'profiled' : '',
].filter(Boolean).join('-');
const repoRoot = join(resultsDir(), '..', '..');
const stateDir = join(repoRoot, '.petrel', 'bench-broadcast');

const log = (text: string) => process.stdout.write(`broadcast: ${text}\n`);
const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** Child processes to stop if a run fails half-way (else they would outlive us). */
const running = new Set<() => Promise<void> | void>();

function clientProcesses(n: number): number {
  const fromEnv = process.env['BENCH_CLIENT_PROCS'];
  const wanted = fromEnv ? Number(fromEnv) : Math.max(2 * gateways, Math.ceil(n / 9_500));
  // Whole multiples of the gateways so each gets the same share of the fleet.
  return Math.ceil(Math.max(wanted, Math.ceil(n / PER_PROCESS_SOCKETS)) / gateways) * gateways;
}

// ---------------------------------------------------------------------------------------
// The systems under test

interface Target {
  system: System;
  /** Process name → pid (Petrel's tiers, or the broker). */
  pids: Record<string, number>;
  /** Where the swarm dials: one port per gateway. */
  ports: number[];
  publisher(): Promise<BroadcastPublisher>;
  /** Waits until the system sees every subscription (Petrel: routes and the topic count). */
  ready(n: number): Promise<void>;
  /** Petrel: the server's own counts for the measured messages. */
  serverCounts?(ids: string[], expected: number): Promise<ServerCounts & { settledMs: number }>;
  pushesResent?(): Promise<number>;
  /** Petrel: its gateways' broadcast waves so far, and the publishes they carried (cumulative). */
  waves?(): Promise<{ waves: number; publishes: number }>;
  /** Petrel: its processes' log files (warnings and worse). */
  logs: Record<string, string>;
  profiles: Record<string, string>;
  stop(): Promise<void>;
}

async function startPetrelTarget(tenant: BenchTenant, profileDir: string, logDir: string): Promise<Target> {
  const dataDir = join(stateDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const logs: Record<string, string> = {};
  const logOf = (tier: string) => (logs[tier] = join(logDir, `${tier}.log`));
  const env = {
    PETREL_REDIS_URL: benchRedisUrl(),
    PETREL_REDIS_KEY_PREFIX: tenant.keys.prefix,
    PETREL_DEVICE_KEY: tenant.deviceKey.toString('base64'),
    PETREL_DATA_DIR: dataDir,
    PETREL_GATEWAY_HOST: '0.0.0.0',
    PETREL_HTTP_HOST: '127.0.0.1',
    PETREL_HTTP_PORT: String(HTTP_PORT),
  };
  const nodeArgs = (tier: string) => (cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${tier}.cpuprofile`] : []);
  const started: Array<[string, ServiceProcess]> = [];
  const gatewayMetrics: string[] = [];
  const ports = Array.from({ length: gateways }, (_, i) => GATEWAY_PORT + i);
  const stopAll = async () => {
    for (const [, p] of [...started].reverse()) await p.stop();
  };
  try {
    if (layout === 'all') {
      started.push(['all', await startPetrel('all', { ...env, PETREL_GATEWAY_PORT: String(ports[0]) }, ports[0]!, nodeArgs('all'), logOf('all'))]);
      gatewayMetrics.push(`http://127.0.0.1:${HTTP_PORT}/metrics`);
    } else {
      started.push(['dispatcher', await startPetrel('dispatcher', { ...env, PETREL_DISPATCH_PORT: String(DISPATCH_PORT), PETREL_OPS_PORT: String(DISPATCH_OPS_PORT) }, DISPATCH_PORT, nodeArgs('dispatcher'), logOf('dispatcher'))]);
      started.push(['api', await startPetrel('api', env, HTTP_PORT, nodeArgs('api'), logOf('api'))]);
    }
    // More gateways (all of them in the split layout) as processes of their own.
    for (let i = layout === 'all' ? 1 : 0; i < gateways; i++) {
      const name = `gateway-${i + 1}`;
      started.push([name, await startPetrel('gateway', { ...env, PETREL_GATEWAY_PORT: String(ports[i]), PETREL_OPS_PORT: String(GATEWAY_OPS_PORT + i) }, ports[i]!, nodeArgs(name), logOf(name))]);
      gatewayMetrics.push(`http://127.0.0.1:${GATEWAY_OPS_PORT + i}/metrics`);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  await waitForPort(HTTP_PORT);
  const baseUrl = `http://127.0.0.1:${HTTP_PORT}`;
  const to = audience === 'all' ? ({ all: true } as const) : { topic: TOPIC };
  const { redis, keys } = tenant;
  return {
    system: 'petrel',
    pids: Object.fromEntries(started.map(([tier, p]) => [tier, p.pid])),
    ports,
    publisher: async () => new PetrelPublisher(baseUrl, tenant.serverSecret, to),
    async ready(n) {
      // Every ONLINE report handled (routes written) and every SUB counted in Redis; the
      // gateways' own fan-out index is updated before each SUBACK went out.
      await until('every device route', async () => {
        const p = redis.pipeline();
        for (const d of tenant.devices) p.exists(keys.route(d.dev));
        return ((await p.exec()) ?? []).every(([, v]) => v === 1);
      }, 120_000, 250);
      await until(`${n} subscribers of ${TOPIC}`, async () => {
        const res = await fetch(`${baseUrl}/v1/topics/${TOPIC}`, { headers: { authorization: `Bearer ${tenant.serverSecret}` } });
        return res.status === 200 && ((await res.json()) as { subscribers: number }).subscribers === n;
      }, 60_000, 250);
    },
    serverCounts: (ids, expected) => waitForServerCounts(baseUrl, tenant.serverSecret, ids, expected, 20_000),
    async pushesResent() {
      let sum = 0;
      for (const url of gatewayMetrics) sum += await scrape(url, 'petrel_gateway_pushes_resent_total');
      return sum;
    },
    async waves() {
      const total = { waves: 0, publishes: 0 };
      for (const url of gatewayMetrics) {
        total.waves += await scrape(url, 'petrel_gateway_publishes_per_wave_count');
        total.publishes += await scrape(url, 'petrel_gateway_publishes_per_wave_sum');
      }
      return total;
    },
    logs,
    profiles: cpuProf ? Object.fromEntries(started.map(([tier]) => [tier, join(profileDir, `${tier}.cpuprofile`)])) : {},
    stop: stopAll,
  };
}

function brokerTarget(broker: MqttBroker): Target {
  return {
    system: broker.name,
    pids: { [broker.name]: broker.pid },
    ports: [broker.port],
    publisher: () => MqttBroadcastPublisher.connect(broker.port, TOPIC),
    // A SUBACK is sent once the subscription is in place.
    ready: async () => undefined,
    logs: {},
    profiles: {},
    stop: () => broker.stop(),
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits (up to BENCH_QUIET_WAIT_S) until other processes use less than NOISE_CORE_SHARE of a core for a second. */
function waitQuiet(cpu: CpuMeter): Promise<void> {
  return waitForQuiet(cpu, { maxWaitSec: quietWaitSec, noiseShare: NOISE_CORE_SHARE, log });
}

// ---------------------------------------------------------------------------------------
// One trial: one system, N subscribers

interface TrialFigures {
  system: System;
  subscribers: number;
  subscribed: number;
  subscribePerSecond: number;
  broadcasts: number;
  broadcastsAccepted: number;
  expected: number;
  received: number;
  acked: number;
  /** Received and ACKed per second over the measured window. */
  deliveriesPerSecond: number;
  windowMs: number;
  /** Broadcast due → received, over every delivery. */
  latency: LatencySummary;
  /** Broadcast due → accepted by the system (202 / PUBACK), ms. */
  acceptMedianMs: number;
  publisherMaxLagMs: number;
  /** Petrel: what its traces counted (PUSHes written, devices that ACKed), and re-sends. */
  server: (ServerCounts & { settledMs: number }) | null;
  pushesResent: number | null;
  /**
   * Petrel: publishes per gateway wave in the measured phase (gateway/fanout-waves.ts: the
   * publishes that queued on a gateway go out together, a device's PUSHes in one write).
   */
  publishesPerWave: number | null;
  cpu: CpuFigures;
  /** Percent of a core over the measured window. */
  systemCpuPercent: number;
  clientsCpuPercent: number;
  redisCpuPercent: number;
  /** System CPU per delivery, µs. */
  systemCpuMicrosPerDelivery: number;
  clientsCpuMicrosPerDelivery: number;
  /** Petrel: warnings and errors its processes logged during the trial, by message, with a sample line. */
  serviceWarnings: Record<string, { count: number; sample: string }> | null;
  /** RSS of the system's processes after the measured phase, MiB. */
  systemRssMiB: number;
  rssMiB: Record<string, number>;
  noisy: boolean;
  profile: Record<string, ProfileSummary> | null;
}

async function trial(system: System, n: number, run: number, redisPidNo: number, mosquittoBin: string | null): Promise<TrialFigures> {
  const profileDir = join(stateDir, `profile-run${run}-${n}`);
  rmSync(profileDir, { recursive: true, force: true });
  let tenant: BenchTenant | null = null;
  let target: Target;
  if (system === 'petrel') {
    log(`petrel: provisioning ${n} devices…`);
    tenant = await provisionTenant('broadcast', n);
    log(`petrel: starting ${layout === 'all' ? 'petrel all' : 'petrel dispatcher + api'}${layout === 'split' || gateways > 1 ? ` + ${layout === 'all' ? gateways - 1 : gateways} gateway process(es)` : ''}…`);
    target = await startPetrelTarget(tenant, profileDir, join(stateDir, 'logs', `run${run}-${n}`));
  } else if (system === 'mosquitto') {
    target = brokerTarget(await startMosquitto(mosquittoBin!, MQTT_PORT, join(stateDir, 'mosquitto')));
  } else {
    target = brokerTarget(await startAedes(MQTT_PORT));
  }
  const stopTarget = () => target.stop();
  running.add(stopTarget);
  await sleep(500);

  const procs = clientProcesses(n);
  const swarm = await Swarm.start(procs);
  const stopSwarm = () => swarm.stop();
  running.add(stopSwarm);
  log(`${system}: ${n} subscribers of one topic from ${procs} client processes…`);
  const base = { port: target.ports[0]!, concurrency: 256, heartbeatSec: HEARTBEAT_SEC, record: true, topics: [TOPIC] };
  const connect = system === 'petrel'
    ? await swarm.connect({ ...base, mode: petrelClient }, tenant!.devices, n, target.ports)
    : await swarm.connect({ ...base, mode: 'mqtt', clientIdPrefix: `r${run}` }, [], n, target.ports);
  if (connect.failed > 0) throw new Error(`${system}: ${connect.failed} of ${n} subscribers failed to connect or subscribe`);
  await target.ready(n);
  log(`${system}: ${connect.connected} subscribed (${Math.round(connect.perSecond)}/s)`);

  const publisher = await target.publisher();
  const deliveries = new Deliveries(swarm);
  const perSecond = offeredRate / n;
  const groups: Record<string, number[]> = { system: Object.values(target.pids), clients: swarm.pids, redis: [redisPidNo] };
  for (const [name, pid] of Object.entries(target.pids)) groups[`process:${name}`] = [pid];
  const cpu = new CpuMeter(groups);

  const warm = await publishPaced(publisher, `warmup-${system}-${n}`, warmupBroadcasts, perSecond);
  if (warm.failures.length) throw new Error(`${system}: warm-up broadcasts failed: ${warm.failures[0]}`);
  const warmed = await deliveries.waitFor(`warmup-${system}-${n}`, n * warmupBroadcasts, drainQuietSec * 1000);
  log(`${system}: warm-up ${warmed.count}/${n * warmupBroadcasts} received`);
  await sleep(1000);
  await waitQuiet(cpu);

  const phase = `measured-${system}-${n}`;
  log(`${system}: ${broadcasts} broadcasts at ${round(perSecond, 2)}/s (${offeredRate} deliveries/s offered)…`);
  const waves0 = target.waves ? await target.waves() : null;
  const c0 = cpu.snapshot();
  const p0 = monotonicMicros();
  const sent: PacedPublish = await publishPaced(publisher, phase, broadcasts, perSecond);
  const expected = n * sent.accepted;
  const got = await deliveries.waitFor(phase, expected, drainQuietSec * 1000);
  const p1 = monotonicMicros();
  const c1 = cpu.snapshot();
  const cpuFig = cpu.figures(c0, c1);
  const rate = deliveriesPerSecond(got, sent.startedAt);
  const server = target.serverCounts ? await target.serverCounts(sent.ids, expected) : null;
  const resent = target.pushesResent ? await target.pushesResent() : null;
  const waves1 = target.waves ? await target.waves() : null;
  const publishesPerWave = waves0 && waves1 && waves1.waves > waves0.waves ? round((waves1.publishes - waves0.publishes) / (waves1.waves - waves0.waves), 2) : null;
  const rss: Record<string, number> = {};
  for (const [name, pid] of Object.entries(target.pids)) rss[name] = round(rssBytes(pid) / 2 ** 20, 1);

  publisher.close();
  await swarm.stop();
  running.delete(stopSwarm);
  await target.stop();
  running.delete(stopTarget);
  if (tenant) await tenant.cleanup();

  let profile: Record<string, ProfileSummary> | null = null;
  if (cpuProf && Object.keys(target.profiles).length > 0) {
    profile = {};
    for (const [tier, file] of Object.entries(target.profiles)) {
      if (existsSync(file)) profile[tier] = topSelfTime(file, p0, p1, 15, repoRoot + '/');
      else log(`no profile written for ${tier} (${file})`);
    }
  }

  const serviceWarnings = Object.keys(target.logs).length > 0 ? warningsOf(target.logs) : null;
  const deliveredCount = Math.min(got.count, got.acked);
  const perDelivery = (pct: number) => (deliveredCount > 0 ? round((pct / 100) * ((c1.at - c0.at) / 1000) * 1e6 / deliveredCount, 2) : 0);
  const figures: TrialFigures = {
    system,
    subscribers: n,
    subscribed: connect.connected,
    subscribePerSecond: Math.round(connect.perSecond),
    broadcasts,
    broadcastsAccepted: sent.accepted,
    expected,
    received: got.count,
    acked: got.acked,
    deliveriesPerSecond: rate.perSecond,
    windowMs: rate.windowMs,
    latency: summarize(got.histogram),
    acceptMedianMs: round(median(sent.acceptMs.length ? sent.acceptMs : [0]), 1),
    publisherMaxLagMs: sent.maxLagMs,
    server,
    pushesResent: resent,
    publishesPerWave,
    cpu: cpuFig,
    systemCpuPercent: cpuFig.percent['system'] ?? 0,
    clientsCpuPercent: cpuFig.percent['clients'] ?? 0,
    redisCpuPercent: cpuFig.percent['redis'] ?? 0,
    systemCpuMicrosPerDelivery: perDelivery(cpuFig.percent['system'] ?? 0),
    clientsCpuMicrosPerDelivery: perDelivery(cpuFig.percent['clients'] ?? 0),
    serviceWarnings,
    systemRssMiB: round(Object.values(rss).reduce((a, b) => a + b, 0), 1),
    rssMiB: rss,
    noisy: cpuFig.otherProcessesPercent > NOISE_CORE_SHARE * 100,
    profile,
  };
  got.histogram.destroy();
  for (const [msg, w] of Object.entries(serviceWarnings ?? {})) log(`${system} logged ${w.count} × "${msg}", e.g. ${w.sample.slice(0, 300)}`);
  log(`${system} ${n}: ${figures.deliveriesPerSecond}/s (${got.count}/${expected} received, ${got.acked} ACKed${server ? `, server counted ${server.delivered} delivered / ${server.sent} sent` : ''}${publishesPerWave !== null ? `, ${publishesPerWave} publishes per wave` : ''}), ` +
    `p50 ${figures.latency.p50Ms} ms, p99 ${figures.latency.p99Ms} ms; CPU system ${figures.systemCpuPercent} % clients ${figures.clientsCpuPercent} % redis ${figures.redisCpuPercent} %` +
    `${sent.failures.length ? `; ${sent.failures.length} broadcasts refused: ${sent.failures[0]}` : ''}${figures.noisy ? '; NOISY' : ''}`);
  return figures;
}

/** Warning and error lines (pino JSON, level ≥ 40) of each log file, grouped by process and message. */
function warningsOf(logs: Record<string, string>): Record<string, { count: number; sample: string }> {
  const out: Record<string, { count: number; sample: string }> = {};
  for (const [tier, file] of Object.entries(logs)) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: { level?: number; msg?: string };
      try {
        entry = JSON.parse(line) as { level?: number; msg?: string };
      } catch {
        continue;
      }
      if ((entry.level ?? 0) < 40) continue;
      const key = `${tier}: ${entry.msg ?? '?'}`;
      const w = (out[key] ??= { count: 0, sample: line });
      w.count++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const mosquittoBin = systems.includes('mosquitto') ? ensureMosquitto(log) : null;
  const redis = new Redis(benchRedisUrl());
  const redisPidNo = await redisPid(redis);
  await redis.quit();
  const perRun: TrialFigures[][] = [];
  for (let run = 1; run <= runs; run++) {
    if (runs > 1) log(`run ${run} of ${runs}`);
    const trials: TrialFigures[] = [];
    for (const n of sizes) {
      for (const system of systems) {
        if (system !== 'petrel' && n > PER_PROCESS_SOCKETS) {
          log(`${system}: skipped at ${n} subscribers (one process holds at most ${PER_PROCESS_SOCKETS} sockets here)`);
          continue;
        }
        trials.push(await trial(system, n, run, redisPidNo, mosquittoBin));
      }
    }
    perRun.push(trials);
  }

  // Medians over runs, per (subscribers, system).
  const cells: Array<{ n: number; system: System; trials: TrialFigures[] }> = [];
  for (const n of sizes) for (const system of systems) {
    const ts = perRun.map((r) => r.find((t) => t.subscribers === n && t.system === system)).filter((t): t is TrialFigures => t !== undefined);
    if (ts.length) cells.push({ n, system, trials: ts });
  }
  const med = (ts: TrialFigures[], f: (t: TrialFigures) => number) => round(median(ts.map(f)), 1);
  const summary = cells.map(({ n, system, trials: ts }) => ({
    subscribers: n,
    system,
    deliveriesPerSecond: med(ts, (t) => t.deliveriesPerSecond),
    runs: ts.map((t) => t.deliveriesPerSecond),
    allReceivedAndAcked: ts.every((t) => t.received >= t.expected && t.acked >= t.expected),
    serverCountedAll: system === 'petrel' ? ts.every((t) => (t.server?.delivered ?? 0) >= t.expected) : null,
    /** Petrel: PUSHes its traces say were written ÷ deliveries due (> 1: broadcasts published more than once). */
    serverSentPerDelivery: system === 'petrel' ? round(median(ts.map((t) => (t.server?.sent ?? 0) / t.expected)), 3) : null,
    broadcastsAccepted: med(ts, (t) => t.broadcastsAccepted),
    latencyP50Ms: med(ts, (t) => t.latency.p50Ms),
    latencyP99Ms: med(ts, (t) => t.latency.p99Ms),
    systemCpuPercent: med(ts, (t) => t.systemCpuPercent),
    clientsCpuPercent: med(ts, (t) => t.clientsCpuPercent),
    redisCpuPercent: med(ts, (t) => t.redisCpuPercent),
    systemCpuMicrosPerDelivery: med(ts, (t) => t.systemCpuMicrosPerDelivery),
    clientsCpuMicrosPerDelivery: med(ts, (t) => t.clientsCpuMicrosPerDelivery),
    systemRssMiB: med(ts, (t) => t.systemRssMiB),
    pushesResent: system === 'petrel' ? med(ts, (t) => t.pushesResent ?? 0) : null,
    publishesPerWave: system === 'petrel' ? med(ts, (t) => t.publishesPerWave ?? 0) : null,
    noisyRuns: ts.filter((t) => t.noisy).length,
  }));
  const rateOf = (n: number, s: System) => summary.find((c) => c.subscribers === n && c.system === s)?.deliveriesPerSecond;
  const ratios = sizes.map((n) => {
    const p = rateOf(n, 'petrel');
    const m = rateOf(n, 'mosquitto');
    const a = rateOf(n, 'aedes');
    return {
      subscribers: n,
      petrelOverMosquitto: p !== undefined && m ? round(p / m, 2) : null,
      petrelOverAedes: p !== undefined && a ? round(p / a, 2) : null,
      targetMosquitto: '≥ 1×',
      targetAedes: '≥ 1.5×',
    };
  });
  const config = {
    layout, gateways, quick, runs, subscribers: sizes, systems, broadcasts, warmupBroadcasts, offeredDeliveriesPerSecond: offeredRate,
    audience: audience === 'all' ? '{all: true}' : `{topic: "${TOPIC}"}`, heartbeatSec: HEARTBEAT_SEC, cpuProfile: cpuProf,
    clientProcesses: Object.fromEntries(sizes.map((n) => [n, clientProcesses(n)])),
    petrelClient: petrelClient === 'sdk' ? 'the SDK (PetrelClient defaults: ACKs batched up to 50 ms), SUB over the wire' : 'raw: a minimal client on the shared codec, one ACK frame for the PUSHes of a socket read (bench/lib/raw-petrel-client.ts)',
    mqttClient: 'bench/lib/mqtt-client.ts in the same swarm processes: MQTT 3.1.1, clean session, SUBSCRIBE QoS 1, a PUBACK per message, those of one socket read in one write',
    mqttPublisher: 'one connection from the orchestrator, PUBLISH QoS 1, PUBACK awaited (open loop)',
    petrelPublisher: 'POST /v1/messages from the orchestrator, 202 awaited (open loop)',
    mosquitto: 'Debian package, persistence false, max_inflight_messages 20, max_queued_messages 1000',
    aedes: 'aedes 1.x defaults, in-memory, own process (bench/peers/aedes-broker.ts)',
    deliveriesDefinition: 'messages received and ACKed by the devices / (last receive or ACK − first broadcast due)',
  };
  const noisyTrials = perRun.flat().filter((t) => t.noisy).length;
  const table: Array<[string, string, string?]> = [];
  for (const n of sizes) {
    const hdr = `${n} subscribers (median of ${runs} run${runs > 1 ? 's' : ''}, ${layout}${gateways > 1 ? `, ${gateways} gateways` : ''})`;
    table.push([hdr, 'deliveries/s']);
    for (const c of summary.filter((x) => x.subscribers === n)) {
      table.push([`  ${c.system}${c.allReceivedAndAcked ? '' : ' (NOT all received+ACKed)'}`, `${c.deliveriesPerSecond.toLocaleString('en-US')}/s`]);
      table.push([`    runs; p50 / p99 ms; CPU system / clients / redis %`, `${c.runs.join(', ')}; ${c.latencyP50Ms} / ${c.latencyP99Ms}; ${c.systemCpuPercent} / ${c.clientsCpuPercent} / ${c.redisCpuPercent}`]);
      table.push([`    CPU per delivery system / clients; RSS`, `${c.systemCpuMicrosPerDelivery} / ${c.clientsCpuMicrosPerDelivery} µs; ${c.systemRssMiB} MiB`]);
      if (c.system === 'petrel') table.push(['    server counted every ACK (traces); PUSHes written per delivery; publishes per wave', `${c.serverCountedAll ? 'yes' : 'NO'}; ${c.serverSentPerDelivery}; ${c.publishesPerWave}`]);
    }
    const r = ratios.find((x) => x.subscribers === n)!;
    if (r.petrelOverMosquitto !== null) table.push(['  petrel / mosquitto', `${r.petrelOverMosquitto}×`, `≥ 1×: ${r.petrelOverMosquitto >= 1 ? 'met' : 'NOT met'}`]);
    if (r.petrelOverAedes !== null) table.push(['  petrel / aedes', `${r.petrelOverAedes}×`, `≥ 1.5×: ${r.petrelOverAedes >= 1.5 ? 'met' : 'NOT met'}`]);
  }
  const firstProfiled = perRun[0]?.find((t) => t.profile);
  for (const [tier, s] of Object.entries(firstProfiled?.profile ?? {})) {
    table.push([`top self time, ${tier} (run 1, ${firstProfiled!.subscribers} subscribers, % of busy)`, `${s.busyMs} ms busy`]);
    for (const e of s.top.filter((t) => t.percentOfBusy > 0).slice(0, 6)) table.push([`  ${e.function} ${e.location}`.slice(0, 90), `${e.percentOfBusy} %`]);
  }
  table.push(['trials measured while other processes were busy', `${noisyTrials} of ${perRun.flat().length}`]);
  report(NAME, { config, summary, ratios, perRun }, table);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`broadcast failed: ${(err as Error).stack ?? String(err)}\n`);
  for (const stop of [...running].reverse()) await Promise.resolve(stop()).catch(() => undefined);
  process.exit(1);
});
