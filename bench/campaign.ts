/**
 * A list campaign to a large audience (issue #5 item 5): how long until every line of an
 * uploaded 1,000,000-device list is handed to the send path and stored in its device's
 * inbox, how long until every online device ACKed it, the peak RSS of every process, and
 * how much Redis grows. Memory must stay bounded: the service's peak RSS must not grow
 * with the audience (it streams the upload and sends 1,000 lines a step), while Redis
 * grows linearly by design (a list campaign is write diffusion: one inbox entry per
 * device; broadcasts are the O(1) path).
 *
 * Per audience size of BENCH_AUDIENCES (100,000 and 1,000,000: the two show whether the
 * service's memory follows the audience), from scratch each time:
 *   fleet      N registered devices of one app, written straight to Redis with the device
 *              store's fields (bench/lib/bulk-devices.ts; not timed as the campaign), and
 *              BENCH_ALIASES of them bound to aliases through the BindingStore
 *   service    `petrel all` (what `npm start` runs) or BENCH_LAYOUT=split (gateway,
 *              dispatcher, api), started fresh
 *   online     BENCH_ONLINE devices, spread evenly over the list, connect with the real SDK
 *              from BENCH_CLIENT_PROCS processes (credentials derived as REGISTER issues
 *              them); the rest are offline: their copy waits in their inbox
 *   upload     POST /v1/campaigns (list audience, ratePerSecond 0 = as fast as it goes),
 *              then PUT …/audience as text/plain streamed from a generator (the bench never
 *              holds the body): lines/s; the aliased devices appear as `alias:<name>` lines
 *   campaign   POST …/start, then GET …/{id} every 500 ms (as the console polls): sent and
 *              delivered over time. Time to target = start → sent = audience and every
 *              chunk message fanned out (stored in the inboxes); then → delivered = online
 *   checks     the online devices received it exactly once (the swarm's count equals the
 *              online count and every online inbox is empty, i.e. each one ACKed), every
 *              offline device has exactly one inbox entry, no alias failed
 *   memory     RSS of every process (service, device processes, redis-server) and Redis
 *              `used_memory` every 500 ms, peaks per phase; used_memory before and after
 *              the upload and after the campaign, per line and per device
 * Optionally (BENCH_RATE > 0) a second campaign on the smallest audience paced at that many
 * lines per second: the pace it held.
 *
 * Env: BENCH_AUDIENCES (100000,1000000; quick 10000,50000), BENCH_ONLINE (19,000; quick
 *      2,000), BENCH_ALIASES (5,000; quick 500), BENCH_CLIENT_PROCS (2), BENCH_RATE (0),
 *      BENCH_LAYOUT (all | split), BENCH_TIMEOUT_S (1,800 per campaign), BENCH_POLL_MS (500:
 *      how often progress is read; each read costs the API one trace per chunk message),
 *      BENCH_CPU_PROF=1 (profile the service processes; top self time of the campaign
 *      window in the results), BENCH_QUICK=1.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { AppStore } from '../src/store/app-store.js';
import { deletePrefix } from '../src/store/delete-prefix.js';
import { RedisKeys } from '../src/store/keys.js';
import { BulkFleet } from './lib/bulk-devices.js';
import { CpuMeter, type CpuFigures } from './lib/cpu-meter.js';
import { monotonicMicros, topSelfTime, type ProfileSummary } from './lib/cpu-profile.js';
import { knob, quick } from './lib/knobs.js';
import { nowMs } from './lib/latency.js';
import { MemorySampler, usedMemory } from './lib/memory-sampler.js';
import { median, rssBytes, sleep } from './lib/proc.js';
import { benchRedisUrl } from './lib/provision.js';
import { redisPid } from './lib/redis-stats.js';
import { report, resultsDir } from './lib/results.js';
import { scrape, startPetrel, waitForPort, type ServiceProcess } from './lib/service-process.js';
import { Swarm } from './lib/swarm.js';

const audiences = (process.env['BENCH_AUDIENCES'] ?? (quick ? '10000,50000' : '100000,1000000')).split(',').map(Number).sort((a, b) => a - b);
if (audiences.some((n) => !(n > 0) || n > 1_000_000)) throw new Error(`BENCH_AUDIENCES=${process.env['BENCH_AUDIENCES']}: sizes from 1 to 1,000,000 (the API's cap), comma-separated`);
const onlineWanted = knob('BENCH_ONLINE', 19_000, 2_000);
const aliasesWanted = knob('BENCH_ALIASES', 5_000, 500);
const clientProcs = knob('BENCH_CLIENT_PROCS', 2, 1);
const pacedRate = knob('BENCH_RATE', 0);
const timeoutSec = knob('BENCH_TIMEOUT_S', 1_800);
/** How often progress is read (GET …/{id}); the console reads it every 2 s. */
const pollMs = knob('BENCH_POLL_MS', 500, 500);
const layout = process.env['BENCH_LAYOUT'] ?? 'all';
const cpuProf = process.env['BENCH_CPU_PROF'] === '1';
if (layout !== 'all' && layout !== 'split') throw new Error(`BENCH_LAYOUT=${layout}: all or split`);
if (onlineWanted > 19_900 * clientProcs) throw new Error(`BENCH_ONLINE=${onlineWanted}: at most ~19,900 devices per client process (open-file cap); raise BENCH_CLIENT_PROCS`);

const HEARTBEAT_SEC = 240;
/** RSS and Redis used_memory are sampled this often. */
const SAMPLE_MS = 500;
/** The SDK's default ACK delay is 50 ms; a progress that has not moved for this long is stuck. */
const STALL_MS = 120_000;
// Ports of their own: the other benchmarks use 15xxx/18xxx and may run at the same time.
const GATEWAY_PORT = 25223;
const HTTP_PORT = 28080;
const GATEWAY_OPS_PORT = 25290;
const DISPATCH_OPS_PORT = 25291;
const DISPATCH_PORT = 25300;

const NAME = `campaign${layout === 'split' ? '-split' : ''}${quick ? '-quick' : ''}${cpuProf ? '-profiled' : ''}`;
const repoRoot = join(resultsDir(), '..', '..');
const stateDir = join(repoRoot, '.petrel', 'bench-campaign');
const MB = 2 ** 20;
const round = (n: number, digits = 0) => Number(n.toFixed(digits));
const log = (text: string) => process.stdout.write(`campaign: ${text}\n`);

/** Child processes to stop if a run fails half-way (else they would outlive us). */
const running = new Set<() => Promise<void> | void>();

// ---------------------------------------------------------------------------------------
// Who is in the audience

/**
 * Which of the fleet's devices are online and which are named by an alias line: both
 * spread evenly over the list, so every 1,000-line chunk has some of each, and computed
 * from the index, so nothing per device is held here. Some online devices are aliased.
 */
class AudiencePlan {
  readonly onlineCount: number;
  readonly aliasCount: number;
  private readonly onlineEvery: number;
  private readonly aliasEvery: number;

  constructor(readonly fleet: BulkFleet) {
    const n = fleet.size;
    this.onlineCount = Math.min(onlineWanted, n);
    this.aliasCount = Math.min(aliasesWanted, n);
    this.onlineEvery = Math.max(1, Math.floor(n / Math.max(1, this.onlineCount)));
    this.aliasEvery = Math.max(1, Math.floor(n / Math.max(1, this.aliasCount)));
  }

  isOnline(i: number): boolean {
    return this.onlineCount > 0 && i % this.onlineEvery === 0 && i / this.onlineEvery < this.onlineCount;
  }

  isAlias(i: number): boolean {
    return this.aliasCount > 0 && i % this.aliasEvery === 0 && i / this.aliasEvery < this.aliasCount;
  }

  aliasName(i: number): string {
    return `user-${i}`;
  }

  line(i: number): string {
    return this.isAlias(i) ? `alias:${this.aliasName(i)}` : this.fleet.deviceId(i);
  }

  onlineIndices(): number[] {
    return Array.from({ length: this.onlineCount }, (_, k) => k * this.onlineEvery);
  }

  aliasIndices(): number[] {
    return Array.from({ length: this.aliasCount }, (_, k) => k * this.aliasEvery);
  }

  /** The upload body, `lines` lines per piece, made as it is read. */
  *body(lines = 1000): Generator<string> {
    for (let i = 0; i < this.fleet.size; i += lines) {
      let piece = '';
      for (let j = i; j < Math.min(this.fleet.size, i + lines); j++) piece += this.line(j) + '\n';
      yield piece;
    }
  }
}

// ---------------------------------------------------------------------------------------
// The service and its HTTP API

interface Service {
  /** Process name → pid. */
  pids: Record<string, number>;
  /** Process name → its HTTP or ops port's base URL (/metrics, /debug/gc). */
  ops: Record<string, string>;
  gatewayMetrics: string;
  profiles: Record<string, string>;
  stop(): Promise<void>;
}

async function startService(keys: RedisKeys, deviceKey: Buffer, profileDir: string): Promise<Service> {
  const dataDir = join(stateDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const env = {
    PETREL_REDIS_URL: benchRedisUrl(),
    PETREL_REDIS_KEY_PREFIX: keys.prefix,
    PETREL_DEVICE_KEY: deviceKey.toString('base64'),
    PETREL_DATA_DIR: dataDir,
    PETREL_GATEWAY_HOST: '0.0.0.0',
    PETREL_GATEWAY_PORT: String(GATEWAY_PORT),
    PETREL_HTTP_HOST: '127.0.0.1',
    PETREL_HTTP_PORT: String(HTTP_PORT),
  };
  // --expose-gc: POST /debug/gc then reads the live heap (it changes nothing until called).
  const nodeArgs = (tier: string) => ['--expose-gc', ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${tier}.cpuprofile`] : [])];
  const started: Array<[string, ServiceProcess]> = [];
  const stopAll = async () => {
    for (const [, p] of [...started].reverse()) await p.stop();
  };
  try {
    if (layout === 'all') {
      started.push(['all', await startPetrel('all', env, GATEWAY_PORT, nodeArgs('all'))]);
    } else {
      started.push(['dispatcher', await startPetrel('dispatcher', { ...env, PETREL_DISPATCH_PORT: String(DISPATCH_PORT), PETREL_OPS_PORT: String(DISPATCH_OPS_PORT) }, DISPATCH_PORT, nodeArgs('dispatcher'))]);
      started.push(['gateway', await startPetrel('gateway', { ...env, PETREL_OPS_PORT: String(GATEWAY_OPS_PORT) }, GATEWAY_PORT, nodeArgs('gateway'))]);
      started.push(['api', await startPetrel('api', env, HTTP_PORT, nodeArgs('api'))]);
    }
    await waitForPort(HTTP_PORT);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    pids: Object.fromEntries(started.map(([tier, p]) => [tier, p.pid])),
    ops: layout === 'all'
      ? { all: `http://127.0.0.1:${HTTP_PORT}` }
      : { dispatcher: `http://127.0.0.1:${DISPATCH_OPS_PORT}`, gateway: `http://127.0.0.1:${GATEWAY_OPS_PORT}`, api: `http://127.0.0.1:${HTTP_PORT}` },
    gatewayMetrics: layout === 'all' ? `http://127.0.0.1:${HTTP_PORT}/metrics` : `http://127.0.0.1:${GATEWAY_OPS_PORT}/metrics`,
    profiles: cpuProf ? Object.fromEntries(started.map(([tier]) => [tier, join(profileDir, `${tier}.cpuprofile`)])) : {},
    stop: stopAll,
  };
}

interface CampaignView {
  id: string;
  state: string;
  startedAt?: number;
  finishedAt?: number;
  audienceSize: number;
  progress: { audience: number; sent: number; delivered: number; opened: number; failed: number; expired: number };
}

class Api {
  constructor(private readonly serverSecret: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${HTTP_PORT}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.serverSecret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  /** PUT …/audience as text/plain, streamed (chunked) from the generator with backpressure. */
  upload(campaignId: string, body: Iterable<string>): Promise<{ audienceSize: number }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: HTTP_PORT, method: 'PUT', path: `/v1/campaigns/${campaignId}/audience`,
        headers: { authorization: `Bearer ${this.serverSecret}`, 'content-type': 'text/plain' },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => {
          if (res.statusCode === 200) resolve(JSON.parse(text) as { audienceSize: number });
          else reject(new Error(`PUT audience: ${res.statusCode} ${text.slice(0, 300)}`));
        });
      });
      req.on('error', reject);
      Readable.from(body).pipe(req);
    });
  }
}

// ---------------------------------------------------------------------------------------
// One campaign, started and watched

interface Watched {
  /** start → running (the runner's startedAt), ms. */
  queuedMs: number;
  /** start → the runner marked it completed: every line handed to the send path, ms. */
  sentMs: number | null;
  /** start → every chunk message fanned out (inbox entries written), ms, seen by polling. */
  storedMs: number | null;
  /** start → delivered = online count (every online device ACKed), ms, seen by polling. */
  deliveredMs: number | null;
  final: CampaignView;
  chunks: number;
  targeted: number;
  failedTargets: number;
  stalled: boolean;
  /** [ms since start, sent, delivered] per poll. */
  series: Array<[number, number, number]>;
  pollMs: { p50: number; max: number; last: number };
}

async function watchCampaign(api: Api, redis: Redis, keys: RedisKeys, appId: string, id: string, expectSent: number, expectDelivered: number, startedAt: number): Promise<Watched> {
  const series: Array<[number, number, number]> = [];
  const pollTimes: number[] = [];
  let storedAt: number | null = null;
  let deliveredAt: number | null = null;
  let lastProgress = '';
  let lastChangeAt = Date.now();
  let fan = { chunks: 0, fannedOut: 0, targeted: 0, failed: 0 };
  let view: CampaignView;
  let stalled = false;
  for (;;) {
    const q0 = performance.now();
    view = await api.call<CampaignView>('GET', `/v1/campaigns/${id}`);
    pollTimes.push(performance.now() - q0);
    const now = Date.now();
    series.push([now - startedAt, view.progress.sent, view.progress.delivered]);
    if (view.progress.sent >= expectSent && storedAt === null) {
      fan = await fanOutOf(redis, keys, appId, id);
      if (fan.fannedOut === fan.chunks) storedAt = Date.now();
    }
    if (view.progress.delivered >= expectDelivered && deliveredAt === null) deliveredAt = now;
    if (storedAt !== null && deliveredAt !== null && view.state === 'completed') break;
    const progress = `${view.state} ${view.progress.sent} ${view.progress.delivered} ${fan.fannedOut}`;
    if (progress !== lastProgress) {
      lastProgress = progress;
      lastChangeAt = now;
    } else if (now - lastChangeAt > STALL_MS) {
      stalled = true;
      log(`no progress for ${STALL_MS / 1000} s (${progress}); giving up on this campaign`);
      break;
    }
    if (now - startedAt > timeoutSec * 1000) {
      stalled = true;
      log(`not done after ${timeoutSec} s; giving up on this campaign`);
      break;
    }
    if (series.length % 20 === 0) log(`  ${((now - startedAt) / 1000).toFixed(0)} s: sent ${view.progress.sent}, delivered ${view.progress.delivered}, GET took ${pollTimes.at(-1)!.toFixed(0)} ms`);
    await sleep(Math.max(0, pollMs - (performance.now() - q0)));
  }
  if (fan.chunks === 0 || fan.fannedOut < fan.chunks) fan = await fanOutOf(redis, keys, appId, id);
  return {
    queuedMs: (view.startedAt ?? startedAt) - startedAt,
    sentMs: view.finishedAt === undefined ? null : view.finishedAt - startedAt,
    storedMs: storedAt === null ? null : storedAt - startedAt,
    deliveredMs: deliveredAt === null ? null : deliveredAt - startedAt,
    final: view,
    chunks: fan.chunks,
    targeted: fan.targeted,
    failedTargets: fan.failed,
    stalled,
    series,
    pollMs: { p50: round(median(pollTimes), 1), max: round(Math.max(...pollTimes), 1), last: round(pollTimes.at(-1) ?? 0, 1) },
  };
}

/** The campaign's chunk messages and how many have been fanned out (their `fanout` field is set with their counters). */
async function fanOutOf(redis: Redis, keys: RedisKeys, appId: string, id: string) {
  const ids = await redis.lrange(keys.campaignMessages(appId, id), 0, -1);
  const pipeline = redis.pipeline();
  for (const m of ids) pipeline.hmget(keys.message(m), 'fanout', 'targeted', 'failed');
  const rows = ((await pipeline.exec()) ?? []).map(([, v]) => v as Array<string | null>);
  return {
    chunks: ids.length,
    fannedOut: rows.filter((r) => r[0] !== null).length,
    targeted: rows.reduce((s, r) => s + Number(r[1] ?? 0), 0),
    failed: rows.reduce((s, r) => s + Number(r[2] ?? 0), 0),
  };
}

/** Inbox sizes of devices `indices` (or all), counted: how many hold 0, 1, more entries. */
async function inboxCensus(redis: Redis, keys: RedisKeys, fleet: BulkFleet, pick: (i: number) => boolean): Promise<{ devices: number; empty: number; one: number; more: number }> {
  const out = { devices: 0, empty: 0, one: 0, more: 0 };
  for (let i = 0; i < fleet.size; i += 10_000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(fleet.size, i + 10_000); j++) if (pick(j)) pipeline.zcard(keys.inbox(fleet.deviceId(j)));
    for (const [err, n] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      out.devices++;
      if (n === 0) out.empty++;
      else if (n === 1) out.one++;
      else out.more++;
    }
  }
  return out;
}

/**
 * What each service process keeps: a full GC (POST /debug/gc), then its live heap and
 * RSS, MB. Unlike a peak, this tells garbage not yet collected from memory held.
 */
async function liveMemory(service: Service): Promise<Record<string, { heapUsedMB: number; rssMB: number }>> {
  const out: Record<string, { heapUsedMB: number; rssMB: number }> = {};
  for (const [tier, url] of Object.entries(service.ops)) {
    const { heapUsed } = (await (await fetch(`${url}/debug/gc`, { method: 'POST' })).json()) as { heapUsed: number };
    out[tier] = { heapUsedMB: round(heapUsed / MB, 1), rssMB: round(rssBytes(service.pids[tier]!) / MB, 1) };
  }
  return out;
}

async function memoryUsage(redis: Redis, key: string): Promise<number> {
  return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

// ---------------------------------------------------------------------------------------
// One audience size, from an empty keyspace to a cleaned-up one

async function runAudience(n: number, paced: boolean) {
  const redis = new Redis(benchRedisUrl());
  const keys = new RedisKeys(`bench:campaign:${randomBytes(4).toString('hex')}:`);
  const cleanup = async () => {
    await deletePrefix(redis, keys.prefix);
  };
  running.add(cleanup);
  const deviceKey = randomBytes(32);
  const rPid = await redisPid(redis);
  const mem = { empty: await usedMemory(redis), devices: 0, beforeUpload: 0, afterUpload: 0, afterCampaign: 0, afterCleanup: 0 };

  const { app, serverSecret } = await new AppStore(redis, keys).create('bench campaign');
  const fleet = new BulkFleet(redis, keys, app.id, n);
  const plan = new AudiencePlan(fleet);
  log(`${n}: writing ${n} devices straight to Redis…`);
  const devicesPerSecond = await fleet.write();
  const a0 = Date.now();
  await fleet.bindAliases(plan.aliasIndices(), (i) => plan.aliasName(i));
  const aliasSeconds = (Date.now() - a0) / 1000;
  mem.devices = await usedMemory(redis);
  log(`${n}: ${Math.round(devicesPerSecond)} devices/s written, ${plan.aliasCount} aliases bound in ${aliasSeconds.toFixed(1)} s; Redis used_memory ${(mem.devices / MB).toFixed(0)} MB`);

  const profileDir = join(stateDir, `profile-${n}`);
  rmSync(profileDir, { recursive: true, force: true });
  log(`${n}: starting the service (${layout === 'all' ? 'petrel all' : 'petrel dispatcher + gateway + api'})…`);
  const service = await startService(keys, deviceKey, profileDir);
  const stopService = () => service.stop();
  running.add(stopService);
  const swarm = await Swarm.start(clientProcs);
  const stopSwarm = () => swarm.stop();
  running.add(stopSwarm);
  const online = plan.onlineIndices().map((i) => fleet.credentials(deviceKey, i));
  log(`${n}: connecting ${online.length} devices from ${clientProcs} processes…`);
  const connect = await swarm.connect({ mode: 'sdk', port: GATEWAY_PORT, concurrency: 256, heartbeatSec: HEARTBEAT_SEC, record: true }, online);
  if (connect.failed > 0) throw new Error(`${connect.failed} devices failed to connect`);
  // Every ONLINE report handled, so the campaign finds a route for each online device.
  const routesDeadline = Date.now() + 60_000;
  for (;;) {
    const p = redis.pipeline();
    for (const d of online) p.exists(keys.route(d.dev));
    if (((await p.exec()) ?? []).every(([, v]) => v === 1)) break;
    if (Date.now() > routesDeadline) throw new Error('not every online device has a route after 60 s');
    await sleep(250);
  }
  log(`${n}: ${connect.connected} devices online (${Math.round(connect.perSecond)} connects/s)`);

  const processes: Record<string, number> = { ...service.pids, 'redis-server': rPid };
  swarm.pids.forEach((pid, i) => (processes[`devices-${i + 1}`] = pid));
  const groups: Record<string, number[]> = Object.fromEntries(Object.entries(processes).map(([k, pid]) => [k, [pid]]));
  const cpu = new CpuMeter(groups);
  const sampler = new MemorySampler(processes, redis, SAMPLE_MS);
  sampler.start();
  await sleep(1000);
  const liveBefore = await liveMemory(service);

  const api = new Api(serverSecret);
  const phase = `campaign-${n}`;
  const created = await api.call<CampaignView>('POST', '/v1/campaigns', {
    name: `bench ${n}`, audience: { list: true },
    // Data only: the SDK emits a message with a notification as 'notification', and the
    // swarm's recorder counts 'message' events. The title and body ride in the data, so the
    // frame is as large. s: when the message was made (receive times are taken against the start).
    message: { data: { s: nowMs(), p: phase, title: 'Spring sale', body: '-20 % on everything' }, ttl: 86_400 },
    ratePerSecond: 0,
  });
  mem.beforeUpload = await usedMemory(redis);
  sampler.phase = 'upload';
  log(`${n}: uploading ${n} lines (${plan.aliasCount} of them alias:<name>)…`);
  const u0 = cpu.snapshot();
  const uploaded = await api.upload(created.id, plan.body());
  const u1 = cpu.snapshot();
  const uploadSeconds = (u1.at - u0.at) / 1000;
  if (uploaded.audienceSize !== n) throw new Error(`upload stored ${uploaded.audienceSize} lines of ${n}`);
  await sampler.sample();
  mem.afterUpload = await usedMemory(redis);
  const audienceKeyBytes = await memoryUsage(redis, keys.campaignAudience(app.id, created.id));
  log(`${n}: uploaded in ${uploadSeconds.toFixed(1)} s (${Math.round(n / uploadSeconds)} lines/s); Redis +${((mem.afterUpload - mem.beforeUpload) / MB).toFixed(1)} MB`);

  sampler.phase = 'campaign';
  const resent0 = await scrape(service.gatewayMetrics, 'petrel_gateway_pushes_resent_total');
  const c0 = cpu.snapshot();
  const p0 = monotonicMicros();
  const startedAt = Date.now();
  await api.call('POST', `/v1/campaigns/${created.id}/start`);
  log(`${n}: started; polling every ${pollMs} ms…`);
  const watched = await watchCampaign(api, redis, keys, app.id, created.id, n, plan.onlineCount, startedAt);
  const p1 = monotonicMicros();
  const c1 = cpu.snapshot();
  await sampler.sample();
  sampler.phase = 'after';
  await sleep(1000);
  mem.afterCampaign = await usedMemory(redis);
  log(`${n}: sent in ${((watched.sentMs ?? NaN) / 1000).toFixed(1)} s, stored in ${((watched.storedMs ?? NaN) / 1000).toFixed(1)} s, delivered to every online device in ${((watched.deliveredMs ?? NaN) / 1000).toFixed(1)} s; Redis +${((mem.afterCampaign - mem.afterUpload) / MB).toFixed(1)} MB`);

  // Exactly once: the devices showed as many messages of the campaign as there are online
  // devices, and every online inbox is empty (each one ACKed its copy): so each got one.
  const received = (await swarm.collect()).filter((s) => s.phase === phase);
  const receivedCount = received.reduce((s, r) => s + r.count, 0);
  const firstReceivedMs = received.length ? Math.min(...received.map((r) => r.firstAt)) - startedAt : null;
  const lastReceivedMs = received.length ? Math.max(...received.map((r) => r.lastAt)) - startedAt : null;
  const onlineInboxes = await inboxCensus(redis, keys, fleet, (i) => plan.isOnline(i));
  const offlineInboxes = await inboxCensus(redis, keys, fleet, (i) => !plan.isOnline(i));
  const inboxKeyBytes = await memoryUsage(redis, keys.inbox(fleet.deviceId(plan.isOnline(1) ? 2 : 1)));
  const liveAfter = await liveMemory(service);
  const resent = (await scrape(service.gatewayMetrics, 'petrel_gateway_pushes_resent_total')) - resent0;
  const exactlyOnce = receivedCount === plan.onlineCount && onlineInboxes.empty === plan.onlineCount;
  const everyOfflineStored = offlineInboxes.one === n - plan.onlineCount;
  log(`${n}: online devices received ${receivedCount} (${plan.onlineCount} online, ${onlineInboxes.empty} inboxes empty): ${exactlyOnce ? 'exactly once each' : 'NOT exactly once'}; offline inboxes with one entry: ${offlineInboxes.one} of ${n - plan.onlineCount}`);

  let pacedRun: Record<string, unknown> | null = null;
  if (paced) pacedRun = await runPaced(api, redis, keys, app.id, plan, sampler);

  const campaignCpu: CpuFigures = cpu.figures(c0, c1);
  const uploadCpu: CpuFigures = cpu.figures(u0, u1);
  sampler.stop();
  const peaks = sampler.peakMB();
  await swarm.stop();
  await service.stop();
  running.delete(stopSwarm);
  running.delete(stopService);

  let profile: Record<string, ProfileSummary> | null = null;
  if (cpuProf) {
    profile = {};
    for (const [tier, file] of Object.entries(service.profiles)) {
      if (existsSync(file)) profile[tier] = topSelfTime(file, p0, p1, 15, repoRoot + '/');
      else log(`no profile written for ${tier} (${file})`);
    }
  }

  log(`${n}: cleaning up Redis…`);
  await cleanup();
  running.delete(cleanup);
  mem.afterCleanup = await usedMemory(redis);
  await redis.quit();

  const servicePeak = Object.keys(service.pids).reduce((s, k) => s + (peaks.overall[k] ?? 0), 0);
  const sentSeconds = (watched.sentMs ?? NaN) / 1000;
  return {
    audience: n,
    online: plan.onlineCount,
    aliases: plan.aliasCount,
    fleet: { devicesWrittenPerSecond: Math.round(devicesPerSecond), aliasBindSeconds: round(aliasSeconds, 1), connected: connect.connected, connectsPerSecond: Math.round(connect.perSecond) },
    upload: { seconds: round(uploadSeconds, 2), linesPerSecond: Math.round(n / uploadSeconds), cpu: uploadCpu },
    campaign: {
      queuedMs: watched.queuedMs,
      timeToTargetSeconds: round(sentSeconds, 1),
      linesPerSecond: Math.round(n / sentSeconds),
      storedSeconds: watched.storedMs === null ? null : round(watched.storedMs / 1000, 1),
      onlineDeliveredSeconds: watched.deliveredMs === null ? null : round(watched.deliveredMs / 1000, 1),
      firstReceivedSeconds: firstReceivedMs === null ? null : round(firstReceivedMs / 1000, 2),
      lastReceivedSeconds: lastReceivedMs === null ? null : round(lastReceivedMs / 1000, 2),
      chunks: watched.chunks,
      targeted: watched.targeted,
      failedTargets: watched.failedTargets,
      progress: watched.final.progress,
      state: watched.final.state,
      stalled: watched.stalled,
      progressGetMs: watched.pollMs,
      cpu: campaignCpu,
      series: watched.series,
    },
    checks: { receivedByOnlineDevices: receivedCount, onlineInboxes, offlineInboxes, exactlyOnce, everyOfflineStored, pushesResent: resent },
    memory: {
      peakRssMB: peaks.overall,
      peakRssMBByPhase: peaks.byPhase,
      servicePeakRssMB: round(servicePeak, 1),
      /** Per service process after a full GC, with the devices online and before the upload, and after the campaign. */
      serviceLiveBefore: liveBefore,
      serviceLiveAfter: liveAfter,
      redisUsedMB: Object.fromEntries(Object.entries(mem).map(([k, v]) => [k, round(v / MB, 1)])),
      redisBytesPerDevice: round((mem.devices - mem.empty) / n),
      redisBytesPerUploadedLine: round((mem.afterUpload - mem.beforeUpload) / n),
      redisBytesPerDeviceForCampaign: round((mem.afterCampaign - mem.afterUpload) / n),
      audienceListBytes: audienceKeyBytes,
      oneInboxKeyBytes: inboxKeyBytes,
      series: sampler.series(4),
    },
    paced: pacedRun,
    profile,
  };
}

/** A second campaign to the same audience at BENCH_RATE lines per second: the pace held. */
async function runPaced(api: Api, redis: Redis, keys: RedisKeys, appId: string, plan: AudiencePlan, sampler: MemorySampler): Promise<Record<string, unknown>> {
  const n = plan.fleet.size;
  sampler.phase = 'paced';
  const c = await api.call<CampaignView>('POST', '/v1/campaigns', {
    name: `bench paced ${n}`, audience: { list: true }, message: { data: { title: 'Paced', body: 'second campaign' }, ttl: 86_400 }, ratePerSecond: pacedRate,
  });
  await api.upload(c.id, plan.body());
  const startedAt = Date.now();
  await api.call('POST', `/v1/campaigns/${c.id}/start`);
  log(`${n}: paced campaign at ${pacedRate} lines/s…`);
  const w = await watchCampaign(api, redis, keys, appId, c.id, n, plan.onlineCount, startedAt);
  const runSeconds = w.final.finishedAt !== undefined && w.final.startedAt !== undefined ? (w.final.finishedAt - w.final.startedAt) / 1000 : NaN;
  log(`${n}: paced: ${Math.round(n / runSeconds)} lines/s held (asked ${pacedRate})`);
  return { askedPerSecond: pacedRate, heldPerSecond: Math.round(n / runSeconds), runningSeconds: round(runSeconds, 1), storedSeconds: w.storedMs === null ? null : round(w.storedMs / 1000, 1), onlineDeliveredSeconds: w.deliveredMs === null ? null : round(w.deliveredMs / 1000, 1), progress: w.final.progress, stalled: w.stalled };
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const runs: Array<Awaited<ReturnType<typeof runAudience>>> = [];
  for (const [i, n] of audiences.entries()) runs.push(await runAudience(n, pacedRate > 0 && i === 0));
  const small = runs[0]!;
  const large = runs.at(-1)!;
  const growth = large.audience / small.audience;
  const redisGrowth = (r: typeof small) => r.memory.redisUsedMB['afterCampaign']! - r.memory.redisUsedMB['beforeUpload']!;
  const bounded = {
    audienceRatio: growth,
    servicePeakRssRatio: round(large.memory.servicePeakRssMB / small.memory.servicePeakRssMB, 2),
    redisGrowthRatio: round(redisGrowth(large) / Math.max(0.1, redisGrowth(small)), 2),
    // Bounded: the service's peak grows by far less than the audience (a fifth of it or less).
    serviceBounded: audiences.length > 1 && large.memory.servicePeakRssMB / small.memory.servicePeakRssMB < 1 + (growth - 1) / 5,
  };
  const checksOk = runs.every((r) => r.checks.exactlyOnce && r.checks.everyOfflineStored && r.campaign.failedTargets === 0 && !r.campaign.stalled);
  const others = runs.flatMap((r) => r.campaign.cpu.otherProcesses).sort((a, b) => b.percent - a.percent).slice(0, 5);
  const config = {
    layout, quick, audiences, online: onlineWanted, aliases: aliasesWanted, clientProcesses: clientProcs, pacedRate, pollMs, heartbeatSec: HEARTBEAT_SEC, cpuProfile: cpuProf,
    timeToTarget: 'POST …/start → the runner marks the campaign completed (every line handed to the send path); stored: every chunk message fanned out into the inboxes',
  };
  const rows: Array<[string, string, string?]> = [];
  const f1 = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(1));
  for (const r of runs) {
    const pk = r.memory.peakRssMB;
    const devicesPeak = Object.entries(pk).filter(([k]) => k.startsWith('devices-')).map(([, v]) => v.toFixed(0)).join(' / ');
    rows.push(
      [`${r.audience.toLocaleString('en')} lines (${r.online} online, ${r.aliases} aliases, layout ${layout})`, ''],
      ['  upload (PUT …/audience, streamed)', `${f1(r.upload.seconds)} s, ${r.upload.linesPerSecond.toLocaleString('en')} lines/s`],
      ['  time to target (start → all lines sent)', `${f1(r.campaign.timeToTargetSeconds)} s, ${r.campaign.linesPerSecond.toLocaleString('en')} lines/s`],
      ['  start → all stored in inboxes', `${f1(r.campaign.storedSeconds)} s`],
      ['  start → every online device ACKed', `${f1(r.campaign.onlineDeliveredSeconds)} s`],
      ['  online devices got it exactly once', r.checks.exactlyOnce ? `yes (${r.checks.receivedByOnlineDevices})` : `NO (${r.checks.receivedByOnlineDevices} received)`],
      ['  offline inboxes holding it', `${r.checks.offlineInboxes.one.toLocaleString('en')} of ${(r.audience - r.online).toLocaleString('en')}`],
      ['  peak RSS, service (' + Object.keys(r.memory.peakRssMB).filter((k) => !k.startsWith('devices-') && k !== 'redis-server' && k !== 'redis used_memory').join(' + ') + ')', `${r.memory.servicePeakRssMB.toFixed(0)} MB`],
      ['  service live heap after a full GC: devices online → after the campaign', Object.entries(r.memory.serviceLiveAfter).map(([k, v]) => `${k} ${r.memory.serviceLiveBefore[k]?.heapUsedMB} → ${v.heapUsedMB} MB`).join(', ')],
      ['  peak RSS, redis-server / device processes', `${(pk['redis-server'] ?? 0).toFixed(0)} / ${devicesPeak} MB`],
      ['  Redis used_memory before upload → after → after campaign', `${r.memory.redisUsedMB['beforeUpload']} → ${r.memory.redisUsedMB['afterUpload']} → ${r.memory.redisUsedMB['afterCampaign']} MB`],
      ['  Redis per line uploaded / per device for the campaign', `${r.memory.redisBytesPerUploadedLine} / ${r.memory.redisBytesPerDeviceForCampaign} B`],
      ['  CPU during the campaign (% of a core)', Object.entries(r.campaign.cpu.percent).filter(([k]) => k !== 'redis used_memory').map(([k, v]) => `${k} ${v}`).join(', ')],
      ['  GET …/{id} while running: p50 / max', `${r.campaign.progressGetMs.p50} / ${r.campaign.progressGetMs.max} ms`],
    );
    if (r.paced) rows.push([`  paced run: asked / held`, `${String(r.paced['askedPerSecond'])} / ${String(r.paced['heldPerSecond'])} lines/s`]);
    for (const [tier, summary] of Object.entries(r.profile ?? {})) {
      rows.push([`  top self time, ${tier} (campaign window, % of busy)`, `${summary.busyMs} ms busy`]);
      for (const e of summary.top.filter((t) => t.percentOfBusy > 0).slice(0, 6)) rows.push([`    ${e.function} ${e.location}`.slice(0, 90), `${e.percentOfBusy} %`]);
    }
  }
  if (runs.length > 1) {
    rows.push([`bounded: audience ×${growth} → service peak RSS ×${bounded.servicePeakRssRatio}, Redis growth ×${bounded.redisGrowthRatio}`, bounded.serviceBounded ? 'service bounded' : 'NOT bounded']);
  }
  rows.push(['checks (exactly once, inboxes, no failed targets)', checksOk ? 'passed' : 'FAILED']);
  rows.push(['other processes on the machine during campaigns (max)', others.length ? `${others[0]!.percent} % of a core (${others[0]!.command.slice(0, 40)})` : 'none']);
  report(NAME, { config, bounded, checksOk, otherProcesses: others, runs }, rows);
  if (!checksOk) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  process.stderr.write(`campaign failed: ${(err as Error).stack ?? String(err)}\n`);
  for (const stop of [...running].reverse()) await Promise.resolve(stop()).catch(() => undefined);
  process.exit(1);
});
