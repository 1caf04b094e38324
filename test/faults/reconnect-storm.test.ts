// A reconnect storm (issue #7): 19,000 authenticated SDK devices lose their gateway to
// kill -9, and a replacement starts at once on the same port. Every device comes back at
// once (full-jitter backoff spreads them over a few seconds, no more), so what stands
// between the crowd and the new process is its admission control: a token bucket of
// `gateway.limits.connectsPerSec` that answers the excess BYE 4008 with a spread `retry`.
//
// Real processes throughout: `petrel api`, `petrel dispatcher` and `petrel gateway`, the
// devices held by the benchmarks' client processes (bench/lib/swarm.ts, device-swarm.ts:
// one process may hold ~19,900 sockets here). A broadcast sent while the gateway is down
// must reach every device exactly once after the storm. Figures go out as t.diagnostic
// lines for docs/reliability.md (`npm run test:faults`).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it, type TestContext } from 'node:test';
import { BulkFleet } from '../../bench/lib/bulk-devices.js';
import { rssBytes } from '../../bench/lib/proc.js';
import { metricValue } from '../../bench/lib/service-process.js';
import { Swarm } from '../../bench/lib/swarm.js';
import type { SwarmStatus } from '../../bench/lib/device-swarm.js';
import { AppStore } from '../../src/store/app-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import type { PetrelProcess } from '../support/petrel-process.js';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { ApiSender, ProcessGroup, freePort, kill9, tail, tierEnv, within, type Deployment } from '../support/send-load.js';
import { waitFor } from '../support/wait.js';

const DEVICES = 19_000;
const CLIENT_PROCESSES = 2;
/**
 * Half of what this machine's SDK clients complete when nothing holds them back (about
 * 2,000 authenticated connects/s, bench/results/idle-connections.json): so the limit, not
 * the shared CPU, sets the pace the replacement admits at.
 */
const CONNECTS_PER_SEC = 1_000;
/**
 * Kill to every device back: the bucket alone needs 18 s, a refused device waits 1-16 s
 * before it tries again; here it takes 23-30 s.
 */
const RECOVERY_BOUND_MS = 90_000;
const RSS_BOUND_BYTES = 1.5 * 2 ** 30;
/** The phase tag of the broadcast sent during the outage (device-swarm tallies by it). */
const OUTAGE = 'outage';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** One /metrics read of the replacement gateway, with when the request left and the answer came (performance.now()). */
interface Scrape {
  sentAt: number;
  answeredAt: number;
  /** Accepted sockets that passed admission control. */
  admitted: number;
  /** Refused by admission control (BYE 4008 right after accept). */
  refused: number;
  /** Event-loop delay p99 since the previous read (prom-client resets it on each), seconds. */
  loopP99: number;
}

async function scrapeGateway(opsPort: number): Promise<Scrape> {
  const sentAt = performance.now();
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const refused = metricValue(text, 'petrel_gateway_rate_limited_total{limit="connects"}');
  return {
    sentAt,
    answeredAt: performance.now(),
    admitted: metricValue(text, 'petrel_gateway_accepts_total') - refused,
    refused,
    loopP99: metricValue(text, 'petrel_nodejs_eventloop_lag_p99_seconds'),
  };
}

/**
 * How close admission came to its bound, as a share of it (1 = exactly at it). A token
 * bucket of `perSec` holding one second's worth admits at most perSec × T + perSec in any
 * T; between two reads, T is at most the first request's departure to the second's answer,
 * so the check holds however late the busy gateway answered.
 */
function worstShareOfBound(scrapes: readonly Scrape[], perSec: number): number {
  let worst = 0;
  for (let i = 0; i < scrapes.length; i++) {
    for (let j = i + 1; j < scrapes.length; j++) {
      const allowed = (perSec * (scrapes[j]!.answeredAt - scrapes[i]!.sentAt)) / 1000 + perSec;
      worst = Math.max(worst, (scrapes[j]!.admitted - scrapes[i]!.admitted) / allowed);
    }
  }
  return worst;
}

/** The highest admitted rate over windows of at least a second between reads (midpoint to midpoint). */
function peakRate(scrapes: readonly Scrape[]): number {
  const mid = (s: Scrape) => (s.sentAt + s.answeredAt) / 2;
  let peak = 0;
  for (let i = 0; i < scrapes.length; i++) {
    const j = scrapes.findIndex((s, k) => k > i && mid(s) - mid(scrapes[i]!) >= 1000);
    if (j < 0) break;
    peak = Math.max(peak, ((scrapes[j]!.admitted - scrapes[i]!.admitted) * 1000) / (mid(scrapes[j]!) - mid(scrapes[i]!)));
  }
  return peak;
}

/** petrel_gateway_closes_total by close code: `{"4008": 12}`. */
function closesByCode(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^petrel_gateway_closes_total\{code="(\d+)"[^}]*\} (\S+)$/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  return out;
}

function diagnostics(t: TestContext, lines: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(lines)) t.diagnostic(`${k}: ${v}`);
}

function alive(p: PetrelProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

it('a reconnect storm of 19,000 devices after kill -9 of their gateway: the replacement admits them at a bounded rate, without running out of memory, and every device gets what was sent meanwhile once', { timeout: 280_000 }, async (t) => {
  const prefix = uniquePrefix('faults-storm');
  const redis = createTestRedis();
  const keys = new RedisKeys(prefix);
  const deviceKey = randomBytes(32);
  const d: Deployment = { redisUrl: testRedisUrl(), prefix, deviceKey: deviceKey.toString('base64') };
  const group = new ProcessGroup(tierEnv(d));
  let swarm: Swarm | null = null;
  let rssTimer: NodeJS.Timeout | undefined;
  try {
    const created = await new AppStore(redis, keys).create('reconnect storm');
    // Registered straight into Redis: 19,000 REGISTERs are not what this test is about.
    const fleet = new BulkFleet(redis, keys, created.app.id, DEVICES);
    await fleet.write();
    const devices = Array.from({ length: DEVICES }, (_, i) => fleet.credentials(deviceKey, i));

    // The swarm's client processes dial 127.0.0.2, .3, … (a 4-tuple space each), so the
    // gateway listens on every address; its port is fixed so the replacement takes it over.
    const gatewayPort = await freePort();
    const gatewayEnv = async (connectsPerSec: number) => {
      const opsPort = await freePort();
      const env = {
        PETREL_GATEWAY_HOST: '0.0.0.0',
        PETREL_GATEWAY_PORT: String(gatewayPort),
        PETREL_OPS_HOST: '127.0.0.1',
        PETREL_OPS_PORT: String(opsPort),
        PETREL_GATEWAY_CONNECTS_PER_SEC: String(connectsPerSec),
      };
      return { env, opsPort };
    };
    // The first gateway admits without limit (0): the fleet's first connect is set-up, not the fault.
    const first = await gatewayEnv(0);
    const [gateway, api, dispatcher] = await Promise.all([group.start('gateway', first.env), group.start('api'), group.start('dispatcher')]);
    const sender = new ApiSender(api.port('http'), created.serverSecret);

    swarm = await Swarm.start(CLIENT_PROCESSES);
    // Bounded, like every wait on the client processes: one that died would never answer,
    // and only a settled test reaches `finally` to stop the others.
    const initial = await within(swarm.connect({ mode: 'sdk', port: gatewayPort, concurrency: 256, heartbeatSec: 30, tally: true }, devices), 120_000, 'the fleet to connect');
    assert.equal(initial.connected, DEVICES, `every device connected before the fault (${initial.failed} failed)\n${tail(gateway)}`);
    const fleetStatus = () => within(swarm!.status(), 10_000, 'the client processes to report');
    const before = await fleetStatus();

    // The fault: kill -9, a broadcast while no gateway holds anyone, then the replacement.
    await kill9(gateway);
    const killedAt = performance.now();
    const killedAtMs = Date.now();
    const broadcast = await sender.broadcast({ p: OUTAGE });
    assert.equal(broadcast.status, 202, `the API accepts with the gateway down: ${JSON.stringify(broadcast)}`);
    const second = await gatewayEnv(CONNECTS_PER_SEC);
    // Admission counts from the replacement's start: its counters are 0 before it.
    const origin: Scrape = { sentAt: performance.now(), answeredAt: performance.now(), admitted: 0, refused: 0, loopP99: 0 };
    const replacement = await group.start('gateway', second.env);
    const replacementUpAt = performance.now();
    const pid = replacement.child.pid!;

    let peakRss = 0;
    const sampleRss = () => {
      try {
        peakRss = Math.max(peakRss, rssBytes(pid));
      } catch {
        // Gone: the liveness assertion below says so.
      }
    };
    sampleRss();
    rssTimer = setInterval(sampleRss, 200);
    const scrapes: Scrape[] = [origin];
    let storming = true;
    const watcher = (async () => {
      while (storming && alive(replacement)) {
        try {
          scrapes.push(await scrapeGateway(second.opsPort));
        } catch {
          // A read that timed out under load: the next one covers the same counters.
        }
        await sleep(500);
      }
    })();

    let status: SwarmStatus = before;
    let allOnlineAt = 0;
    let lastConnectedAtMs = 0;
    let allShownAt = 0;
    let stalled = '';
    await waitFor(async () => {
      status = await fleetStatus();
      if (!allOnlineAt && status.online === DEVICES) {
        allOnlineAt = performance.now();
        lastConnectedAtMs = status.lastConnectedAt;
      }
      if (!allShownAt && status.shown[OUTAGE]?.devices === DEVICES) allShownAt = performance.now();
      return (allOnlineAt > 0 && allShownAt > 0) || !alive(replacement);
    }, 'every device back and shown the outage broadcast', RECOVERY_BOUND_MS, 250).catch((err: Error) => {
      stalled = `${err.message}: ${JSON.stringify({ online: status.online, shown: status.shown, offline: status.offline })}`;
    });
    storming = false;
    await watcher;
    clearInterval(rssTimer);
    sampleRss();
    const final = await scrapeGateway(second.opsPort).catch(() => null);
    if (final) scrapes.push(final);

    // The service's own account: every device ACKed the broadcast once (the trace counts
    // first ACKs). Waiting for it also gives late copies (a retried publish) time to arrive.
    let trace: { status: number; body: { counts?: Record<string, number> } } = { status: 0, body: {} };
    await waitFor(async () => {
      trace = await sender.trace(broadcast.id!);
      return trace.body.counts?.['delivered'] === DEVICES;
    }, 'the broadcast trace to count every device delivered', stalled ? 1000 : 30_000, 500).catch(() => {});
    // The gateway's session gauge is refreshed by its sweep (once a second): it may lag.
    let finalMetrics = '';
    let sessionsHeld = 0;
    await waitFor(async () => {
      finalMetrics = await fetch(`http://127.0.0.1:${second.opsPort}/metrics`).then((r) => r.text(), () => '');
      sessionsHeld = metricValue(finalMetrics, 'petrel_gateway_connections{state="authenticated"}');
      return sessionsHeld === DEVICES;
    }, 'the replacement to count every session', stalled ? 1000 : 10_000, 250).catch(() => {});
    const after = await fleetStatus();

    const { admitted, refused } = scrapes.at(-1)!;
    const loopLagMs = scrapes.slice(1).map((s) => s.loopP99 * 1000).sort((a, b) => a - b);
    const ends = (code: string) => (after.ends[code] ?? 0) - (before.ends[code] ?? 0);
    const shown = after.shown[OUTAGE] ?? { devices: 0, repeats: 0 };
    const stormMs = (allOnlineAt || performance.now()) - replacementUpAt;
    const share = worstShareOfBound(scrapes, CONNECTS_PER_SEC);
    diagnostics(t, {
      devices: `${DEVICES} SDK clients in ${CLIENT_PROCESSES} processes, back off 500 ms to 5 s with full jitter`,
      'admission limit of the replacement': `${CONNECTS_PER_SEC} connects/s (a bucket of one second's worth)`,
      'replacement gateway up': `${seconds(replacementUpAt - killedAt)} after the kill`,
      'recovery: all devices reconnected': allOnlineAt ? `${seconds(lastConnectedAtMs - killedAtMs)} after the kill (${seconds(lastConnectedAtMs - killedAtMs - (replacementUpAt - killedAt))} after the replacement was up)` : `not within ${seconds(RECOVERY_BOUND_MS)}`,
      'admitted connects/s': `peak ${Math.round(peakRate(scrapes))} (1 s windows), mean ${Math.round((admitted * 1000) / stormMs)} over ${seconds(stormMs)}; ${admitted} admitted in all`,
      'admitted vs the bucket bound (limit × T + one second of burst)': `worst ${(share * 100).toFixed(1)} % of it, over ${scrapes.length - 1} /metrics reads`,
      'refusals (BYE 4008, petrel_gateway_rate_limited_total connects)': `${refused} (read by devices: ${ends('4008')})`,
      'attempts ended without a BYE (refused while no gateway listened, or cut)': ends('none'),
      'connections ended, by BYE code, as devices saw them': JSON.stringify(Object.fromEntries(Object.keys(after.ends).map((code) => [code, ends(code)]))),
      'closes by the replacement, by code': JSON.stringify(closesByCode(finalMetrics)),
      'device reconnects': after.reconnects - before.reconnects,
      'peak RSS of the replacement gateway': `${(peakRss / 2 ** 20).toFixed(0)} MB`,
      'event-loop p99 of the replacement during the storm': `max ${(loopLagMs.at(-1) ?? 0).toFixed(1)} ms, median ${(loopLagMs[loopLagMs.length >> 1] ?? 0).toFixed(1)} ms over ${loopLagMs.length} reads of nodejs_eventloop_lag_p99_seconds`,
      'outage broadcast shown to every device': allShownAt ? `${seconds(allShownAt - killedAt)} after the kill; trace delivered ${trace.body.counts?.['delivered'] ?? '?'}` : 'no',
      'lost (devices never shown the outage broadcast)': DEVICES - shown.devices,
      'duplicates shown to apps': shown.repeats,
    });

    const context = `\n--- replacement gateway:\n${tail(replacement)}\n--- dispatcher:\n${tail(dispatcher)}`;
    assert.ok(alive(replacement), `the replacement gateway survived the storm${context}`);
    assert.equal(stalled, '', `${stalled}${context}`);
    assert.ok(peakRss < RSS_BOUND_BYTES, `replacement RSS ${(peakRss / 2 ** 20).toFixed(0)} MB stays under ${RSS_BOUND_BYTES / 2 ** 20} MB`);
    assert.ok(refused > 0, 'the storm came faster than the limit, so admission control refused some (else this test shows nothing)');
    assert.ok(share <= 1.02, `admitted at most the bucket's bound (worst ${(share * 100).toFixed(1)} % of it)`);
    assert.equal(sessionsHeld, DEVICES, 'every device holds a session on the replacement');
    assert.equal(DEVICES - shown.devices, 0, 'no device missed the broadcast sent while its gateway was down');
    assert.equal(shown.repeats, 0, 'no app was handed it twice');
    assert.equal(trace.body.counts?.['delivered'], DEVICES, `the trace counts every device delivered: ${JSON.stringify(trace.body)}`);
  } finally {
    clearInterval(rssTimer);
    await swarm?.stop();
    await group.killAll();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  }
});
