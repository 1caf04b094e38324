/**
 * HTTP accept rate (issue #4 item 10): how many sends per second the API tier accepts
 * durably (202 = the message and its send job are in Redis), single-message requests and
 * batch requests, with the service, Redis and the load generator on the same two cores.
 *
 * Processes: `petrel api` alone, as two worker processes on one port by default
 * (accepting needs no dispatcher or gateway: the send jobs simply wait in BullMQ's
 * queue), an app server posting over keep-alive connections from
 * its own process (bench/peers/http-sender.ts), Redis, and this orchestrator.
 * The service runs with PETREL_APP_RATE_LIMIT=0: the per-app limit (60,000 points/s by
 * default) is off, since it would cap the batch phases by design; its cost per request
 * is measured apart (BENCH_RATE_LIMIT=1 keeps it on, at 10,000,000 points/s).
 *
 * Method: open loop at rising rates (request i due at start + i/rate whatever the service
 * answers; latency = 202 received − due time, so queueing in the sender counts: no
 * coordinated omission). A step is "kept up" when every request got 202, the sender held
 * its schedule (≥ 95 %) and the p99 accept latency stayed within the bound
 * (BENCH_P99_LIMIT_MS, 100 ms, for single sends; BENCH_BATCH_P99_LIMIT_MS, 500 ms, for
 * batches); the ramp stops at the first step not kept up. The answer to "how many
 * requests/s are accepted with p99 under the bound" is the highest step kept up. What
 * the overloaded step achieved (messages accepted / time to its last answer) is reported
 * as the saturated rate.
 *
 * Phases of one run (each a ramp; rates are messages/s):
 *   single-aliases  POST /v1/messages to one alias (no device lookup at accept)
 *   single-devices  POST /v1/messages to one of BENCH_DEVICES registered devices (one
 *                   device lookup per request, shared per event-loop turn)
 *   batch-100       POST /v1/messages/batch, 100 messages to aliases per request
 *   batch-500       the same with 500 per request
 * After every step: the messages stored (msg:* hashes and intake entries) and the message ids in the queued
 * send jobs must both equal the messages the 202 answers accepted, or the bench fails;
 * then they are deleted so each step starts from the same Redis.
 *
 * Env: BENCH_RUNS (3: figures are medians), BENCH_QUICK=1 (1 run, 2 s steps),
 *      BENCH_STEP_S (5), BENCH_WARMUP_S (10), BENCH_HTTP_CONNECTIONS (64), BENCH_DEVICES (8),
 *      BENCH_SINGLE_STEPS, BENCH_BATCH_STEPS (comma-separated messages/s),
 *      BENCH_BATCH_SIZES (100,500), BENCH_PHASES (all four, comma-separated),
 *      BENCH_QUIET_WAIT_S (60: before each ramp, wait for other processes to go quiet),
 *      BENCH_CPU_PROF=1 (profile the service; top self time per phase in the results),
 *      BENCH_API_WORKERS (2, one per core; 1 with BENCH_CPU_PROF: `petrel api` with
 *      PETREL_HTTP_WORKERS; its CPU is that of the primary and the workers it had when
 *      the run started: a worker re-forked mid-run is not counted, and the primary logs
 *      any such death).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../src/store/keys.js';
import { monotonicMicros, topSelfTime, type ProfileSummary } from './lib/cpu-profile.js';
import { CpuMeter, type CpuFigures, waitForQuiet } from './lib/cpu-meter.js';
import { addEncoded, latencyHistogram, summarize, type LatencySummary } from './lib/latency.js';
import { median, processTree, sleep } from './lib/proc.js';
import { provisionTenant, type BenchTenant } from './lib/provision.js';
import { redisFigures, redisPid, redisSnapshot, type RedisFigures } from './lib/redis-stats.js';
import { knob, quick } from './lib/knobs.js';
import { report, resultsDir } from './lib/results.js';
import { Sender } from './lib/sender.js';
import { startPetrel, type ServiceProcess } from './lib/service-process.js';

function rates(name: string, fallback: string): number[] {
  const list = (process.env[name] || fallback).split(',').map(Number);
  if (list.some((r) => !(r > 0))) throw new Error(`${name}=${process.env[name]}: positive numbers, comma-separated`);
  return list;
}

const runs = knob('BENCH_RUNS', 3, 1);
const stepSec = knob('BENCH_STEP_S', 5, 2);
// Long enough for every worker's JIT: with two workers and 3 s, each saw half the warm-up
// and the first phase ran ~45 % dearer per request (measured 2026-12-03).
const warmupSec = knob('BENCH_WARMUP_S', 10, 2);
const connections = knob('BENCH_HTTP_CONNECTIONS', 64);
const deviceCount = Math.max(1, knob('BENCH_DEVICES', 8));
const p99LimitMs = knob('BENCH_P99_LIMIT_MS', 100);
const batchP99LimitMs = knob('BENCH_BATCH_P99_LIMIT_MS', 500);
const quietWaitSec = knob('BENCH_QUIET_WAIT_S', 60, 5);
const singleSteps = rates('BENCH_SINGLE_STEPS', '1000,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000');
const batchSteps = rates('BENCH_BATCH_STEPS', '5000,10000,15000,20000,25000,30000,40000,50000,60000,80000,100000,120000');
const batchSizes = rates('BENCH_BATCH_SIZES', '100,500');
const rateLimitOn = process.env['BENCH_RATE_LIMIT'] === '1';
const cpuProf = process.env['BENCH_CPU_PROF'] === '1';
// One API process per core, as this 2-core machine would be deployed (1 while profiling).
const apiWorkers = knob('BENCH_API_WORKERS', cpuProf ? 1 : 2);
// Every worker would write the same profile file.
if (cpuProf && apiWorkers > 1) throw new Error('BENCH_CPU_PROF=1 profiles one API process: use it with BENCH_API_WORKERS=1');

/** One ramp: what it sends and how a step is judged. */
interface PhaseSpec {
  name: string;
  kind: 'devices' | 'aliases';
  /** Messages per request; undefined for POST /v1/messages. */
  batch?: number;
  steps: number[];
  p99LimitMs: number;
}
const allPhases: PhaseSpec[] = [
  { name: 'single-aliases', kind: 'aliases', steps: singleSteps, p99LimitMs },
  { name: 'single-devices', kind: 'devices', steps: singleSteps, p99LimitMs },
  ...batchSizes.map((n): PhaseSpec => ({ name: `batch-${n}`, kind: 'aliases', batch: n, steps: batchSteps, p99LimitMs: batchP99LimitMs })),
];
const wantedPhases = process.env['BENCH_PHASES']?.split(',');
const phases = wantedPhases ? allPhases.filter((p) => wantedPhases.includes(p.name)) : allPhases;
if (phases.length === 0) throw new Error(`BENCH_PHASES=${process.env['BENCH_PHASES']}: some of ${allPhases.map((p) => p.name).join(', ')}`);

const HTTP_PORT = 18180;
/** Aliases the sends name (unbound: an alias is resolved at dispatch, not at accept). */
const ALIASES = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
/** Another process using more than this share of a core during a step makes it noisy. */
const NOISE_CORE_SHARE = 0.1;

const NAME = `accept-rate${apiWorkers !== 2 && !cpuProf ? `-${apiWorkers}-worker${apiWorkers > 1 ? 's' : ''}` : ''}${quick ? '-quick' : ''}${cpuProf ? '-profiled' : ''}${rateLimitOn ? '-rate-limited' : ''}`;
const repoRoot = join(resultsDir(), '..', '..');
const stateDir = join(repoRoot, '.petrel', 'bench-accept-rate');
const log = (text: string): void => void process.stdout.write(`accept-rate: ${text}\n`);
const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** Child processes to stop if a run fails half-way (else they would outlive us). */
const running = new Set<() => Promise<void> | void>();

function startService(tenant: BenchTenant, profileDir: string): Promise<ServiceProcess> {
  const dataDir = join(stateDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  return startPetrel('api', {
    PETREL_REDIS_URL: process.env['PETREL_BENCH_REDIS_URL']!,
    PETREL_REDIS_KEY_PREFIX: tenant.keys.prefix,
    PETREL_DEVICE_KEY: tenant.deviceKey.toString('base64'),
    PETREL_DATA_DIR: dataDir,
    PETREL_HTTP_HOST: '127.0.0.1',
    PETREL_HTTP_PORT: String(HTTP_PORT),
    PETREL_APP_RATE_LIMIT: rateLimitOn ? '10000000' : '0',
    PETREL_HTTP_WORKERS: String(apiWorkers),
  }, HTTP_PORT, cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-name=api.cpuprofile'] : []);
}

// ---------------------------------------------------------------------------------------
// Durability: what the 202s promised is in Redis

interface Stored {
  /** Messages stored: hashes (msg:{id}) and intake entries. */
  messages: number;
  /** Send jobs waiting in the queue, and the message ids they carry. */
  jobs: number;
  queuedIds: number;
}

/** Counts the stored messages and queued ids, then deletes them (the next step starts empty). */
async function takeStored(redis: Redis, keys: RedisKeys): Promise<Stored> {
  let messages = 0;
  // Message hashes, and intake entries (immediate unicast messages before their fan-out,
  // src/store/intake-entry.ts): no dispatcher runs, so nothing moves between the two.
  for (const pattern of ['msg:{*', 'intake:{*']) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.prefix}${pattern}`, 'COUNT', 10_000);
      cursor = next;
      if (pattern === 'msg:{*') messages += found.length;
      else for (const key of found) messages += await redis.hlen(key);
      if (found.length > 0) await redis.unlink(...found);
    } while (cursor !== '0');
  }
  const queue = `${keys.queuePrefix()}:send`;
  const jobIds = await redis.lrange(`${queue}:wait`, 0, -1);
  let queuedIds = 0;
  for (let i = 0; i < jobIds.length; i += 1000) {
    const slice = jobIds.slice(i, i + 1000);
    const pipeline = redis.pipeline();
    for (const id of slice) pipeline.hget(`${queue}:${id}`, 'data');
    for (const [err, data] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      queuedIds += (JSON.parse(String(data)) as { ids: string[] }).ids.length;
    }
    await redis.unlink(...slice.map((id) => `${queue}:${id}`));
  }
  await redis.del(`${queue}:wait`);
  return { messages, jobs: jobIds.length, queuedIds };
}

// ---------------------------------------------------------------------------------------
// Steps and ramps

interface StepResult {
  /** Offered messages/s and requests/s. */
  rate: number;
  requestRate: number;
  /** Requests/s the sender achieved. */
  issueRate: number;
  senderMaxLagMs: number;
  requests: number;
  rejected: number;
  failures: Record<string, number>;
  messagesAccepted: number;
  /** Messages accepted / (last answer − first due). */
  acceptedPerSecond: number;
  /** Due time → 202 received. */
  accept: LatencySummary;
  stored: Stored;
  cpu: CpuFigures;
  redis: RedisFigures;
  serviceCpuMicrosPerMessage: number;
  keptUp: boolean;
  noisy: boolean;
}

interface Harness {
  sender: Sender;
  redis: Redis;
  keys: RedisKeys;
  cpu: CpuMeter;
  devices: string[];
}

async function runStep(h: Harness, spec: PhaseSpec, phase: string, rate: number, seconds: number): Promise<StepResult> {
  const perRequest = spec.batch ?? 1;
  const requestRate = rate / perRequest;
  const r0 = await redisSnapshot(h.redis);
  const c0 = h.cpu.snapshot();
  const sent = await h.sender.run({
    phase, rate: requestRate, durationMs: seconds * 1000, kind: spec.kind,
    targets: spec.kind === 'aliases' ? ALIASES : h.devices,
    ...(spec.batch === undefined ? {} : { batch: spec.batch, maxOutstanding: 256 }),
  });
  const c1 = h.cpu.snapshot();
  const cpu = h.cpu.figures(c0, c1);
  const redis = redisFigures(r0, await redisSnapshot(h.redis), sent.messagesAccepted);
  const stored = await takeStored(h.redis, h.keys);
  if (stored.messages !== sent.messagesAccepted || stored.queuedIds !== sent.messagesAccepted) {
    throw new Error(`${phase}: ${sent.messagesAccepted} messages accepted, but ${stored.messages} stored and ${stored.queuedIds} queued in ${stored.jobs} jobs`);
  }
  const h0 = latencyHistogram();
  addEncoded(h0, sent.acceptHistogram);
  const accept = summarize(h0);
  h0.destroy();
  const span = (sent.answeredAt - sent.startedAt) / 1000;
  const acceptedPerSecond = round(sent.messagesAccepted / Math.max(0.001, span));
  return {
    rate, requestRate: round(requestRate, 1), issueRate: sent.issueRate, senderMaxLagMs: sent.maxLagMs,
    requests: sent.issued, rejected: sent.rejected, failures: sent.failures, messagesAccepted: sent.messagesAccepted,
    acceptedPerSecond, accept, stored, cpu, redis,
    serviceCpuMicrosPerMessage: round(((c1.groups['service']! - c0.groups['service']!) * 1e6) / Math.max(1, sent.messagesAccepted), 1),
    keptUp: sent.rejected === 0 && sent.messagesAccepted === sent.planned * perRequest && sent.issueRate >= 0.95 * requestRate && accept.p99Ms <= spec.p99LimitMs,
    noisy: cpu.otherProcessesPercent > NOISE_CORE_SHARE * 100,
  };
}

function describeStep(phase: string, s: StepResult): string {
  return `${phase}: ${s.rate} msg/s offered (${s.requestRate} req/s), ${s.issueRate} req/s issued, ${s.acceptedPerSecond} msg/s accepted, ` +
    `p50 ${s.accept.p50Ms} ms, p99 ${s.accept.p99Ms} ms; CPU service ${s.cpu.percent['service']} %, Redis ${s.cpu.percent['redis']} %, ` +
    `sender ${s.cpu.percent['sender']} %; ${s.redis.commandsPerMessage} Redis commands/message; stored ${s.stored.messages} in ${s.stored.jobs} jobs` +
    `${s.rejected ? `, ${s.rejected} rejected ${JSON.stringify(s.failures)}` : ''}${s.noisy ? `, NOISY (others ${s.cpu.otherProcessesPercent} %)` : ''}${s.keptUp ? '' : '  — not kept up'}`;
}

/** Waits (up to BENCH_QUIET_WAIT_S) until other processes use less than NOISE_CORE_SHARE of a core for a second. */
function waitQuiet(cpu: CpuMeter): Promise<void> {
  return waitForQuiet(cpu, { maxWaitSec: quietWaitSec, noiseShare: NOISE_CORE_SHARE, log });
}

interface RampResult {
  steps: StepResult[];
  /** The highest step kept up (null if none was). */
  best: StepResult | null;
  /** The first step not kept up, if the ramp reached one. */
  overloaded: StepResult | null;
  /** Monotonic µs window of the ramp (for the profile). */
  window: [number, number];
}

async function ramp(h: Harness, spec: PhaseSpec): Promise<RampResult> {
  await waitQuiet(h.cpu);
  const t0 = monotonicMicros();
  const steps: StepResult[] = [];
  let best: StepResult | null = null;
  let overloaded: StepResult | null = null;
  for (const rate of spec.steps) {
    await sleep(300);
    const step = await runStep(h, spec, `${spec.name}-${rate}`, rate, stepSec);
    steps.push(step);
    log(describeStep(`${spec.name}-${rate}`, step));
    if (!step.keptUp) {
      overloaded = step;
      break;
    }
    best = step;
  }
  return { steps, best, overloaded, window: [t0, monotonicMicros()] };
}

// ---------------------------------------------------------------------------------------
// One whole run

async function runOnce(run: number) {
  const tenant = await provisionTenant('accept', deviceCount);
  const { redis, keys } = tenant;
  const profileDir = join(stateDir, `profile-run${run}`);
  rmSync(profileDir, { recursive: true, force: true });
  log(`starting petrel api (rate limit ${rateLimitOn ? '10,000,000/s' : 'off'})…`);
  const service = await startService(tenant, profileDir);
  const stopService = () => service.stop();
  running.add(stopService);
  const devices = tenant.devices.map((d) => d.dev);
  const sender = await Sender.start({ host: '127.0.0.1', port: HTTP_PORT, connections, serverSecret: tenant.serverSecret, devices });
  const stopSender = () => sender.stop();
  running.add(stopSender);
  const cpu = new CpuMeter({ service: processTree(service.pid), redis: [await redisPid(redis)], sender: [sender.pid] });
  const h: Harness = { sender, redis, keys, cpu, devices };

  log(`warm-up: ${warmupSec} s of single sends and batches, not reported`);
  await runStep(h, allPhases[0]!, 'warmup-single', 1000, warmupSec);
  await runStep(h, allPhases[1]!, 'warmup-devices', 1000, warmupSec);
  await runStep(h, { ...allPhases[0]!, batch: 100 }, 'warmup-batch', 10_000, warmupSec);

  const ramps: Record<string, RampResult> = {};
  for (const spec of phases) {
    log(`${spec.name}: ${stepSec} s steps at ${spec.steps.join(', ')} messages/s${spec.batch ? ` (${spec.batch} per request)` : ''}`);
    ramps[spec.name] = await ramp(h, spec);
  }

  sender.stop();
  await service.stop();
  for (const stop of [stopSender, stopService]) running.delete(stop);
  await tenant.cleanup();

  const profile: Record<string, ProfileSummary> = {};
  const file = join(profileDir, 'api.cpuprofile');
  if (cpuProf && existsSync(file)) {
    for (const [name, r] of Object.entries(ramps)) profile[name] = topSelfTime(file, r.window[0], r.window[1], 20, repoRoot + '/');
  }

  const figures: Record<string, number> = {};
  for (const [name, r] of Object.entries(ramps)) {
    const b = r.best;
    figures[`${name}.keptUpMessagesPerSec`] = b?.rate ?? 0;
    figures[`${name}.keptUpRequestsPerSec`] = b?.requestRate ?? 0;
    figures[`${name}.acceptedPerSec`] = b?.acceptedPerSecond ?? 0;
    figures[`${name}.saturatedMessagesPerSec`] = r.overloaded?.acceptedPerSecond ?? 0;
    figures[`${name}.p50Ms`] = b?.accept.p50Ms ?? 0;
    figures[`${name}.p99Ms`] = b?.accept.p99Ms ?? 0;
    figures[`${name}.serviceCpuPercent`] = b?.cpu.percent['service'] ?? 0;
    figures[`${name}.redisCpuPercent`] = b?.cpu.percent['redis'] ?? 0;
    figures[`${name}.senderCpuPercent`] = b?.cpu.percent['sender'] ?? 0;
    figures[`${name}.machineBusyPercent`] = b?.cpu.machineBusyPercent ?? 0;
    figures[`${name}.serviceCpuMicrosPerMessage`] = b?.serviceCpuMicrosPerMessage ?? 0;
    figures[`${name}.redisCommandsPerMessage`] = b?.redis.commandsPerMessage ?? 0;
    figures[`${name}.redisReadsPerMessage`] = b?.redis.readsPerMessage ?? 0;
    figures[`${name}.noisySteps`] = r.steps.filter((s) => s.noisy).length;
  }
  return { figures, ramps, profile };
}

type RunResult = Awaited<ReturnType<typeof runOnce>>;

async function main(): Promise<void> {
  const results: RunResult[] = [];
  for (let run = 1; run <= runs; run++) {
    if (runs > 1) log(`run ${run} of ${runs}`);
    results.push(await runOnce(run));
  }
  const m: Record<string, number> = Object.fromEntries(
    Object.keys(results[0]!.figures).map((k) => [k, median(results.map((r) => r.figures[k] ?? 0))]),
  );
  const perRunOf = (k: string) => results.map((r) => r.figures[k] ?? 0);
  const single = m['single-aliases.keptUpRequestsPerSec'] ?? 0;
  const bestBatch = Math.max(...batchSizes.map((n) => m[`batch-${n}.keptUpMessagesPerSec`] ?? 0));
  const targets = {
    singleRequests: { target: '≥ 4,000 single-message requests/s', value: single, unit: 'requests/s', ratio: round(single / 4000, 2), met: single >= 4000 },
    batchMessages: { target: '≥ 50,000 messages/s through batch requests', value: bestBatch, unit: 'messages/s', ratio: round(bestBatch / 50_000, 2), met: bestBatch >= 50_000 },
  };
  const config = {
    quick, runs, stepSec, warmupSec, connections, devices: deviceCount, singleSteps, batchSteps, batchSizes,
    p99LimitMs, batchP99LimitMs, phases: phases.map((p) => p.name), cpuProfile: cpuProf,
    rateLimit: rateLimitOn ? 'on, 10,000,000 points/s' : 'off (PETREL_APP_RATE_LIMIT=0)',
    service: `petrel api alone (no dispatcher: send jobs wait in the queue), ${apiWorkers} process${apiWorkers > 1 ? 'es (PETREL_HTTP_WORKERS)' : ''}`,
    apiWorkers,
    keptUp: 'every request 202, sender ≥ 95 % of its schedule, p99 (due → 202) within the bound',
  };
  const rows: Array<[string, string, string?]> = [];
  const met = (t: { met: boolean; ratio: number }) => `${t.met ? 'met' : 'NOT met'}, ${t.ratio}×`;
  for (const spec of phases) {
    const k = (f: string) => m[`${spec.name}.${f}`] ?? 0;
    const unit = spec.batch ? 'messages/s' : 'requests/s';
    const target = spec.name === 'single-aliases' ? `≥ 4,000/s: ${met(targets.singleRequests)}` : spec.batch ? '≥ 50,000/s' : undefined;
    rows.push([`${spec.name}: highest rate kept up (runs: ${perRunOf(`${spec.name}.keptUpMessagesPerSec`).join(' / ')})`, `${k('keptUpMessagesPerSec')} ${unit}`, target]);
    if (spec.batch) rows.push(['  requests/s', `${k('keptUpRequestsPerSec')}`]);
    rows.push(['  saturated (first step not kept up)', `${k('saturatedMessagesPerSec')} messages/s`]);
    rows.push(['  accept p50 / p99 at that rate', `${k('p50Ms').toFixed(2)} / ${k('p99Ms').toFixed(2)} ms`]);
    rows.push(['  CPU: service / Redis / sender / machine', `${k('serviceCpuPercent')} / ${k('redisCpuPercent')} / ${k('senderCpuPercent')} / ${k('machineBusyPercent')} %`]);
    rows.push(['  service CPU per message', `${k('serviceCpuMicrosPerMessage')} µs`]);
    rows.push(['  Redis commands (socket reads) per message', `${k('redisCommandsPerMessage')} (${k('redisReadsPerMessage')})`]);
  }
  rows.push(['best batch rate kept up', `${bestBatch} messages/s`, `≥ 50,000/s: ${met(targets.batchMessages)}`]);
  for (const [name, summary] of Object.entries(results[0]!.profile)) {
    rows.push([`top self time, ${name} (run 1, whole ramp, % of busy)`, `${summary.busyMs} ms busy`]);
    for (const e of summary.top.filter((t) => t.percentOfBusy > 0).slice(0, 6)) rows.push([`  ${e.function} ${e.location}`.slice(0, 90), `${e.percentOfBusy} %`]);
  }
  const noisy = Object.keys(m).filter((k) => k.endsWith('.noisySteps')).reduce((s, k) => s + (m[k] ?? 0), 0);
  rows.push(['steps with other processes > 10 % of a core (median over runs)', `${noisy}`]);
  report(NAME, { config, ...m, targets, perRun: results }, rows);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`accept-rate failed: ${(err as Error).stack ?? String(err)}\n`);
  for (const stop of [...running].reverse()) await Promise.resolve(stop()).catch(() => undefined);
  process.exit(1);
});
