// Fault tests of the send path (issue #3), on real processes: `petrel gateway`,
// `petrel dispatcher` and `petrel api` are started as separate programs, devices are real
// SDK clients, and faults are real: kill -9 of a tier process, kill -9 of Redis.
//
// What each test proves is what an app can observe: every message the API answered 202
// for is handed to the app of its device exactly once (the SDK deduplicates by id, so a
// redelivery after a fault is fine; a second 'message' event is not), within a bounded
// time after the fault. Figures (lost, duplicates, recovery time, 503 latency) are printed
// with t.diagnostic.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { metricValue } from '../../bench/lib/service-process.js';
import { AppStore } from '../../src/store/app-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import type { PetrelProcess } from '../support/petrel-process.js';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import {
  AcceptedLog, ApiSender, ProcessGroup, TestDevice, connectDevices, forEachConcurrently, freePort, kill9, tail, tierEnv,
  type Deployment, type SendResult,
} from '../support/send-load.js';
import { spawnRedis } from '../support/spawn-redis.js';
import { waitFor } from '../support/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** How many unacknowledged messages each device's inbox holds. */
async function pendingInboxes(redis: Redis, keys: RedisKeys, devices: readonly TestDevice[]): Promise<number[]> {
  const pipeline = redis.pipeline();
  for (const d of devices) pipeline.zcard(keys.inbox(d.deviceId));
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, n]) => {
    if (err) throw err;
    return n as number;
  });
}

/** What went wrong, with the last lines the processes printed: for assertion messages. */
function context(processes: Record<string, PetrelProcess>): string {
  return Object.entries(processes).map(([name, p]) => `--- ${name}:\n${tail(p)}`).join('\n');
}

/** Answers counted by status and code: `{"503 storage_unavailable": 12}`. */
function summary(rs: readonly SendResult[]): string {
  const counts: Record<string, number> = {};
  for (const r of rs) {
    const key = [r.status, r.code, r.error].filter((x) => x !== undefined).join(' ');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return JSON.stringify(counts);
}

function credentialsOf(created: { app: { id: string; clientKey: string } }): { appId: string; clientKey: string } {
  return { appId: created.app.id, clientKey: created.app.clientKey };
}

/** When the last app was first handed its last message (performance.now()). */
function lastShown(devices: readonly TestDevice[]): number {
  let last = 0;
  for (const d of devices) for (const s of d.firstShown.values()) last = Math.max(last, s.at);
  return last;
}

function diagnostics(t: TestContext, lines: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(lines)) t.diagnostic(`${k}: ${v}`);
}

/**
 * A deployment of real processes on the test Redis, under a key prefix of its own.
 * `close` closes the given devices, kills every process and removes the prefix's keys.
 */
function faultDeployment(name: string) {
  const prefix = uniquePrefix(name);
  const redis = createTestRedis();
  const keys = new RedisKeys(prefix);
  const group = new ProcessGroup(tierEnv({ redisUrl: testRedisUrl(), prefix, deviceKey: randomBytes(32).toString('base64') }));
  return {
    redis, keys, group,
    async close(devices: readonly TestDevice[]): Promise<void> {
      await Promise.all(devices.map((dev) => dev.close()));
      await group.killAll();
      await cleanupPrefix(redis, prefix);
      redis.disconnect();
    },
  };
}

describe('send path under faults (real processes)', () => {
  it('kill -9 of the dispatcher during 10,000 messages to 100 devices: every accepted message reaches its app exactly once', { timeout: 150_000 }, async (t) => {
    const DEVICES = 100;
    const PER_DEVICE = 100;
    const IN_FLIGHT = 50;
    const KILL_AFTER = 3000;

    const { redis, keys, group, close } = faultDeployment('faults-dispatcher');
    let devices: TestDevice[] = [];
    try {
      const created = await new AppStore(redis, keys).create('dispatcher fault test');
      const opsPort = await freePort();
      const [gateway, api, dispatcher] = await Promise.all([
        group.start('gateway', { PETREL_OPS_HOST: '127.0.0.1', PETREL_OPS_PORT: String(opsPort) }),
        group.start('api'),
        group.start('dispatcher'),
      ]);
      const processes: Record<string, PetrelProcess> = { gateway, api, dispatcher };
      devices = await connectDevices(DEVICES, gateway.port('tcp'), credentialsOf(created));
      const sender = new ApiSender(api.port('http'), created.serverSecret);

      const accepted = new AcceptedLog();
      const refused: SendResult[] = [];
      let fault: Promise<void> | null = null;
      let killedAt = 0;
      let replacementUpAt = 0;
      let activeJobsAtKill = 0;
      const killAndReplace = async (): Promise<void> => {
        activeJobsAtKill = await redis.llen(`${keys.queuePrefix()}:send:active`);
        await kill9(dispatcher);
        killedAt = performance.now();
        processes['replacement dispatcher'] = await group.start('dispatcher');
        replacementUpAt = performance.now();
      };

      // Message k goes to device k mod 100: every device gets 100, interleaved. The
      // dispatcher is killed once 3,000 were accepted and a new one started at once; the
      // API goes on accepting meanwhile (it needs Redis, not a dispatcher).
      const started = performance.now();
      const sends = Array.from({ length: DEVICES * PER_DEVICE }, (_, k) => ({ device: devices[k % DEVICES]!, seq: Math.floor(k / DEVICES) }));
      await forEachConcurrently(sends, IN_FLIGHT, async ({ device, seq }) => {
        const r = await sender.send(device.deviceId, { seq });
        if (r.status === 202 && r.id !== undefined) accepted.add(r.id, device);
        else refused.push(r);
        if (accepted.size >= KILL_AFTER) fault ??= killAndReplace();
      });
      const sentAt = performance.now();
      assert.ok(fault, 'the dispatcher was killed during the stream');
      await fault;

      let stalled = '';
      await waitFor(() => accepted.tally(devices).missing === 0, 'every accepted message to reach its device', 60_000, 100).catch((err: Error) => {
        stalled = err.message;
      });
      const result = accepted.tally(devices);
      const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      const recoveryMs = accepted.caughtUpAfter(killedAt);
      diagnostics(t, {
        'messages accepted (202)': `${accepted.size} of ${sends.length} in ${seconds(sentAt - started)} (${Math.round(accepted.size / ((sentAt - started) / 1000))}/s), refused ${summary(refused)}`,
        'dispatcher killed': `after ${KILL_AFTER} accepted; ${accepted.unshownAt(killedAt)} of them not shown yet, ${activeJobsAtKill} send jobs active`,
        'replacement dispatcher up': `${seconds(replacementUpAt - killedAt)} after the kill`,
        'recovery: every message accepted before the kill shown': `${seconds(recoveryMs)} after the kill`,
        'worst 202 -> shown': `${seconds(accepted.worstLatency())} (of those accepted before the kill: ${seconds(accepted.worstLatency(0, killedAt))})`,
        'last 202 -> every message shown': seconds(Math.max(0, lastShown(devices) - sentAt)),
        'lost (accepted, never shown)': result.missing,
        'duplicates shown to apps': result.duplicates,
        'shown but never accepted': result.unaccepted,
        'PUSH frames written by the gateway': `${metricValue(metrics, 'petrel_gateway_pushes_sent_total')} (re-sent after ACK timeout: ${metricValue(metrics, 'petrel_gateway_pushes_resent_total')})`,
      });

      assert.equal(stalled, '', `${result.missing} accepted messages never reached their device\n${context(processes)}`);
      assert.equal(accepted.size, sends.length, `the API accepts while no dispatcher runs: ${summary(refused)}`);
      assert.equal(result.missing, 0);
      assert.equal(result.duplicates, 0, 'no app sees a message twice');
      assert.equal(result.unaccepted, 0);
      assert.ok(recoveryMs < 30_000, `what the dead dispatcher held was delivered within 30 s of the kill (${seconds(recoveryMs)})`);
      for (const device of devices) assert.deepEqual(device.errors, [], `SDK errors on ${device.deviceId}`);

      // Every ACK reached a dispatcher (the dead one's share through the replacement):
      // no inbox keeps an entry, so nothing is replayed on the devices' next connect.
      const settledMs = await waitFor(async () => (await pendingInboxes(redis, keys, devices)).every((n) => n === 0), 'every inbox to be emptied by ACKs', 30_000, 200);
      t.diagnostic(`inboxes empty (all ACKs settled) ${seconds(settledMs)} after the last message was shown`);

      // The traces agree: a sample of messages, each delivered to its one device once.
      for (const id of [...accepted.devices.keys()].filter((_, i) => i % 100 === 0)) {
        const { status, body } = await sender.trace(id);
        assert.equal(status, 200);
        assert.equal(body.state, 'completed', `trace of ${id}: ${JSON.stringify(body)}`);
        assert.equal(body.counts?.['delivered'], 1, `trace of ${id}: ${JSON.stringify(body)}`);
      }
    } finally {
      await close(devices);
    }
  });

  it('kill -9 of a process fanning out what its own API accepts (petrel all), its fan-outs stuck on a frozen gateway: every message it accepted reaches its device once', { timeout: 150_000 }, async (t) => {
    const DEVICES = 50;
    const MESSAGES = 3000;
    const IN_FLIGHT = 50;
    const FREEZE_AFTER = 1000;
    const KILL_AFTER = 1200;
    const { redis, keys, group, close } = faultDeployment('faults-local');
    const dataDir = mkdtempSync(join(tmpdir(), 'petrel-faults-local-'));
    let devices: TestDevice[] = [];
    let gateway: PetrelProcess | undefined;
    try {
      const created = await new AppStore(redis, keys).create('local dispatch fault test');
      // The devices are on a gateway of their own; `all` takes the requests and fans them
      // out in process (dispatch.local); the other dispatcher only recovers.
      const [g, dispatcher, all] = await Promise.all([group.start('gateway'), group.start('dispatcher'), group.start('all', { PETREL_DATA_DIR: dataDir })]);
      gateway = g;
      const processes: Record<string, PetrelProcess> = { gateway: g, dispatcher, all };
      devices = await connectDevices(DEVICES, g.port('tcp'), credentialsOf(created));
      const sender = new ApiSender(all.port('http'), created.serverSecret);

      // After 1,000 accepted the gateway is frozen (SIGSTOP): the fan-outs in flight then
      // have written inboxes and traces and wait on their Thrift deliver, so their outbox
      // entries stay. 200 more are accepted meanwhile (storing needs Redis only; beyond
      // dispatch.concurrency stuck fan-outs they become send jobs), then `all` is killed
      // and the gateway thawed. What the dead process held arrives through the calls it
      // had written before dying, the jobs, or the outbox poll (which also re-queues a
      // `dispatched` message: send-outbox.test.ts shows that path alone).
      const accepted = new AcceptedLog();
      let killedAt = 0;
      let outboxAtKill = -1;
      let localBeforeKill = 0;
      let kill: Promise<void> | null = null;
      let frozen = false;
      await forEachConcurrently(Array.from({ length: MESSAGES }, (_, k) => k), IN_FLIGHT, async (k) => {
        if (kill) return;
        const device = devices[k % DEVICES]!;
        const r = await sender.send(device.deviceId, { k });
        if (r.status === 202 && r.id !== undefined) accepted.add(r.id, device);
        if (accepted.size >= FREEZE_AFTER && !frozen) {
          frozen = true;
          g.child.kill('SIGSTOP');
        }
        if (accepted.size >= KILL_AFTER) {
          kill ??= (async () => {
            localBeforeKill = metricValue(await (await fetch(`http://127.0.0.1:${all.port('http')}/metrics`)).text(), 'petrel_dispatch_local_messages_total');
            await kill9(all);
            killedAt = performance.now();
            outboxAtKill = await redis.zcard(keys.sendOutbox());
            g.child.kill('SIGCONT');
          })();
        }
      });
      assert.ok(kill, 'the all-in-one process was killed during the stream');
      await kill;
      const unshownAtKill = accepted.unshownAt(killedAt);

      let stalled = '';
      await waitFor(() => accepted.tally(devices).missing === 0, 'every accepted message to reach its device', 60_000, 100).catch((err: Error) => {
        stalled = err.message;
      });
      const result = accepted.tally(devices);
      const recoveryMs = accepted.caughtUpAfter(killedAt);
      diagnostics(t, {
        'messages accepted (202) before the kill': accepted.size,
        'fanned out in process before the kill': localBeforeKill,
        'accepted but not shown at the kill': unshownAtKill,
        'outbox entries right after the kill': outboxAtKill,
        'recovery: every accepted message shown': `${seconds(recoveryMs)} after the kill`,
        'lost (accepted, never shown)': result.missing,
        'duplicates shown to apps': result.duplicates,
        // Requests in flight at the kill: stored, then the process died before answering.
        'shown but never answered (stored just before the kill)': result.unaccepted,
      });
      assert.equal(stalled, '', `${result.missing} accepted messages never reached their device\n${context(processes)}`);
      assert.ok(localBeforeKill > 0, 'the all-in-one process fanned messages out itself');
      assert.ok(unshownAtKill > 0 && outboxAtKill > 0, 'the kill left accepted messages unsent, held only by the outbox');
      assert.equal(result.missing, 0);
      assert.equal(result.duplicates, 0, 'no app sees a message twice');
      assert.ok(result.unaccepted <= IN_FLIGHT, `at most the requests in flight at the kill were stored unanswered (${result.unaccepted})`);
      // The outbox poll takes what the dead process held after dispatch.outboxStaleMs (10 s).
      assert.ok(recoveryMs < 30_000, `delivered within 30 s of the kill (${seconds(recoveryMs)})`);
      await waitFor(async () => (await redis.zcard(keys.sendOutbox())) === 0, 'the outbox to be emptied', 30_000, 200);
      for (const device of devices) assert.deepEqual(device.errors, [], `SDK errors on ${device.deviceId}`);
    } finally {
      gateway?.child.kill('SIGCONT');
      await close(devices);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('kill -9 of one of two APIs during 2,000 sends with Idempotency-Keys: retried on the other, every message shown once', { timeout: 150_000 }, async (t) => {
    const DEVICES = 20;
    const MESSAGES = 2000;
    const IN_FLIGHT = 20;
    const KILL_AFTER = 600;
    const { redis, keys, group, close } = faultDeployment('faults-api');
    let devices: TestDevice[] = [];
    try {
      const created = await new AppStore(redis, keys).create('api fault test');
      const [gateway, dispatcher, apiA, apiB] = await Promise.all([group.start('gateway'), group.start('dispatcher'), group.start('api'), group.start('api')]);
      const processes: Record<string, PetrelProcess> = { gateway, dispatcher, apiA, apiB };
      devices = await connectDevices(DEVICES, gateway.port('tcp'), credentialsOf(created));
      const apis = [new ApiSender(apiA.port('http'), created.serverSecret), new ApiSender(apiB.port('http'), created.serverSecret)];
      let aDead = false;

      // An app server behind a load balancer: each send goes to either API; a send that got
      // no answer, a 5xx or 409 idempotency_in_progress is retried with the same key, on
      // the other API, until answered (a stored message's retry is answered, not re-sent).
      const answered = new Map<number, { at: number; tries: number }>();
      const failures: Record<string, number> = {};
      let killedAt = 0;
      let kill: Promise<void> | null = null;
      const started = performance.now();
      await forEachConcurrently(Array.from({ length: MESSAGES }, (_, n) => n), IN_FLIGHT, async (n) => {
        const device = devices[n % DEVICES]!;
        for (let tries = 1; ; tries++) {
          const api = aDead ? apis[1]! : apis[(n + tries) % 2]!;
          const r = await api.send(device.deviceId, { n }, `send-${n}`);
          if (r.status === 202) {
            answered.set(n, { at: performance.now(), tries });
            break;
          }
          const why = `${r.status} ${r.code ?? r.error ?? ''}`.trim();
          failures[why] = (failures[why] ?? 0) + 1;
          assert.ok(r.status === 0 || r.status >= 500 || r.code === 'idempotency_in_progress', `send ${n}: ${JSON.stringify(r)}`);
          assert.ok(performance.now() - started < 90_000, `send ${n} still unanswered after ${tries} tries`);
          await sleep(100);
        }
        if (answered.size >= KILL_AFTER) {
          kill ??= kill9(apiA).then(() => {
            killedAt = performance.now();
            aDead = true;
          });
        }
      });
      assert.ok(kill, 'API A was killed during the stream');
      await kill;

      // What each app was shown, by logical send: a second message id for the same n
      // would be a send stored twice.
      const shownIds = (device: TestDevice, n: number) => [...device.firstShown].filter(([, s]) => (s.data as { n?: number }).n === n).length;
      const tally = () => {
        let missing = 0;
        let duplicates = 0;
        for (let n = 0; n < MESSAGES; n++) {
          const ids = shownIds(devices[n % DEVICES]!, n);
          if (ids === 0) missing++;
          duplicates += Math.max(0, ids - 1);
        }
        for (const device of devices) for (const times of device.shown.values()) duplicates += times - 1;
        return { missing, duplicates };
      };
      let stalled = '';
      await waitFor(() => tally().missing === 0, 'every send shown', 60_000, 200).catch((err: Error) => {
        stalled = err.message;
      });
      const recoveredAt = performance.now();
      const result = tally();
      const retried = [...answered.values()].filter((a) => a.tries > 1).length;
      diagnostics(t, {
        'sends answered 202': `${answered.size} of ${MESSAGES}, ${retried} of them after a retry`,
        'API A killed': `after ${KILL_AFTER} answered`,
        'failed tries (retried)': JSON.stringify(failures),
        'recovery: every send shown': `${seconds(recoveredAt - killedAt)} after the kill`,
        'lost (answered, never shown)': result.missing,
        'duplicates shown to apps (by send, across message ids)': result.duplicates,
      });
      assert.equal(stalled, '', `sends never shown: ${result.missing}\n${context(processes)}`);
      assert.equal(result.missing, 0);
      assert.equal(result.duplicates, 0, 'a retried send is stored once: the app sees it once');
      for (const device of devices) assert.deepEqual(device.errors, [], `SDK errors on ${device.deviceId}`);
    } finally {
      await close(devices);
    }
  });

  it('kill -9 of the gateway holding devices: they reconnect to another gateway and get every message they had not ACKed, once', { timeout: 90_000 }, async (t) => {
    const DEVICES = 10;
    const { redis, keys, group, close } = faultDeployment('faults-gateway');
    const devices: TestDevice[] = [];
    try {
      const created = await new AppStore(redis, keys).create('gateway fault test');
      const [gatewayA, gatewayB, dispatcher, api] = await Promise.all([group.start('gateway'), group.start('gateway'), group.start('dispatcher'), group.start('api')]);
      const processes: Record<string, PetrelProcess> = { gatewayA, gatewayB, dispatcher, api };
      const sender = new ApiSender(api.port('http'), created.serverSecret);

      // Device 0 holds its ACKs back (one batch a minute), so at the kill it has been shown
      // messages the service never heard ACKed: those come again through gateway B and
      // its SDK must drop them. The others ACK promptly, as the SDK does by default.
      const laggard = new TestDevice(credentialsOf(created), { ackDelayMs: 60_000, ackMaxBatch: 256 });
      devices.push(laggard);
      await laggard.connect(gatewayA.port('tcp'));
      devices.push(...(await connectDevices(DEVICES - 1, gatewayA.port('tcp'), credentialsOf(created))));

      const accepted = new AcceptedLog();
      const refused: SendResult[] = [];
      const sendRound = async (perDevice: number, inFlight: number, onAccepted: () => void = () => {}): Promise<void> => {
        const sends = Array.from({ length: DEVICES * perDevice }, (_, k) => devices[k % DEVICES]!);
        await forEachConcurrently(sends, inFlight, async (device) => {
          const r = await sender.send(device.deviceId, { n: accepted.size });
          if (r.status === 202 && r.id !== undefined) {
            accepted.add(r.id, device);
            onAccepted();
          } else refused.push(r);
        });
      };
      const allShown = (what: string) => waitFor(() => accepted.tally(devices).missing === 0, what, 30_000, 50).catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(accepted.tally(devices))}\n${context(processes)}`);
      });

      // Phase 1: 200 messages delivered through A and (but the laggard's) ACKed.
      await sendRound(20, 20);
      await allShown('phase 1 messages to be shown');
      await waitFor(async () => (await pendingInboxes(redis, keys, devices.slice(1))).every((n) => n === 0), 'phase 1 ACKs to settle', 20_000, 50);

      // Phase 2: 300 more; A is killed after 100 of them, and the rest are sent while the
      // devices are cut off.
      let kill: Promise<void> | null = null;
      let killedAt = 0;
      let acceptedAtKill = 0;
      await sendRound(30, 10, () => {
        if (accepted.size < 300) return;
        kill ??= kill9(gatewayA).then(() => {
          killedAt = performance.now();
          acceptedAtKill = accepted.size;
        });
      });
      assert.ok(kill, 'gateway A was killed during the stream');
      await kill;

      // What the service still holds for each device (not ACKed as far as it knows), and
      // how much of that the apps were already shown: their SDKs must drop those.
      const pendingIds = await Promise.all(devices.map((dev) => redis.zrange(keys.inbox(dev.deviceId), 0, -1)));
      const alreadyShown = pendingIds.map((ids, i) => ids.filter((id) => devices[i]!.shown.has(id)).length);

      // The SDK takes one host:port; a device steered elsewhere by a load balancer is a new
      // client on B with the same device store (credentials and seen ids).
      const moveStarted = performance.now();
      await Promise.all(devices.map((dev) => dev.moveTo(gatewayB.port('tcp'))));
      const reconnectedAt = performance.now();
      await allShown('the messages pending at the kill to be shown through gateway B');
      const recoveredAt = performance.now();

      // Phase 3: 100 more, routed to B directly.
      await sendRound(10, 10);
      await allShown('phase 3 messages to be shown through gateway B');

      const result = accepted.tally(devices);
      diagnostics(t, {
        'messages accepted (202)': `${accepted.size}; refused ${summary(refused)}`,
        'gateway A killed': `after ${acceptedAtKill} accepted, ${accepted.unshownAt(killedAt)} of them not shown yet`,
        'held in inboxes after the kill': `${pendingIds.reduce((n, ids) => n + ids.length, 0)}, of which already shown but not ACKed: ${alreadyShown.reduce((a, b) => a + b, 0)} (laggard: ${alreadyShown[0]})`,
        'all devices reconnected to B': `${seconds(reconnectedAt - moveStarted)}`,
        'recovery: kill -9 to every message of phase 2 shown': seconds(recoveredAt - killedAt),
        'lost (accepted, never shown)': result.missing,
        'duplicates shown to apps': result.duplicates,
      });

      assert.ok(alreadyShown[0]! > 0, 'the laggard had been shown messages it had not ACKed when A died');
      assert.equal(result.missing, 0);
      assert.equal(result.duplicates, 0, 'no app sees a message twice, though unACKed ones came again through B');
      assert.equal(result.unaccepted, 0);
      assert.equal(refused.length, 0, `the API accepts regardless of gateways: ${summary(refused)}`);
      for (const device of devices) assert.deepEqual(device.errors, [], `SDK errors on ${device.deviceId}`);
      // Everything is ACKed through B, the laggard's held-back batch too once it closes.
      await Promise.all(devices.map((dev) => dev.close()));
      await waitFor(async () => (await pendingInboxes(redis, keys, devices)).every((n) => n === 0), 'every inbox to be emptied by ACKs through B', 20_000, 50);
    } finally {
      await close(devices);
    }
  });

  it('Redis kill -9 under load, then restart: 503 storage_unavailable in under 1 s while down, every 202 delivered after', { timeout: 150_000 }, async (t) => {
    const DEVICES = 30;
    const TARGET = 3000;
    const KILL_AFTER = 1000;
    const DOWN_MS = 2500;

    // appendfsync always: Redis fsyncs the AOF before it replies, so a write the API saw
    // succeed (and answered 202 for) survives kill -9. Under the default everysec a crash
    // of Redis itself can lose up to a second of acknowledged writes: a deployment that
    // promises no loss of a 202 must run Redis with appendfsync always.
    const server = await spawnRedis({ appendfsync: 'always' });
    const prefix = uniquePrefix('faults-redis');
    const keys = new RedisKeys(prefix);
    const d: Deployment = { redisUrl: server.url, prefix, deviceKey: randomBytes(32).toString('base64') };
    // The default registry TTL (15 s), longer than the outage: no process drops out of
    // the registry because its refreshes failed while Redis was down.
    const group = new ProcessGroup(tierEnv(d, { PETREL_REGISTRY_TTL_MS: '15000' }));
    const devices: TestDevice[] = [];
    try {
      const setup = new Redis(server.url, { maxRetriesPerRequest: 1 });
      const created = await new AppStore(setup, keys).create('redis fault test');
      setup.disconnect();
      const [api, dispatcher, gateway] = await Promise.all([group.start('api'), group.start('dispatcher'), group.start('gateway')]);
      const processes: Record<string, PetrelProcess> = { api, dispatcher, gateway };
      devices.push(...(await connectDevices(DEVICES, gateway.port('tcp'), credentialsOf(created))));
      const sender = new ApiSender(api.port('http'), created.serverSecret);

      const accepted = new AcceptedLog();
      const refusals: Array<{ k: number; startedAt: number; r: SendResult }> = [];
      const probes: SendResult[] = [];
      let downAt = Infinity;
      let upAt = Infinity;
      let outage: Promise<void> | null = null;
      const crashAndRestart = async (): Promise<void> => {
        await server.kill9();
        downAt = performance.now();
        // Probes one after another while Redis is down, beside the stream's own requests.
        while (performance.now() - downAt < DOWN_MS) {
          probes.push(await sender.send(devices[0]!.deviceId, { probe: probes.length }));
          await sleep(200);
        }
        await server.restart();
        upAt = performance.now();
      };

      // The stream goes on through the outage until 3,000 messages were accepted. A refused
      // request is not retried (its message does not count): only a 202 is a promise.
      const started = performance.now();
      let k = 0;
      await forEachConcurrently(Array.from({ length: 30 }, (_, i) => i), 30, async () => {
        while (accepted.size < TARGET && performance.now() - started < 90_000) {
          const device = devices[k % DEVICES]!;
          const mine = k++;
          const startedAt = performance.now();
          const r = await sender.send(device.deviceId, { k: mine });
          if (r.status === 202 && r.id !== undefined) {
            accepted.add(r.id, device);
            if (accepted.size >= KILL_AFTER) outage ??= crashAndRestart();
          } else {
            refusals.push({ k: mine, startedAt, r });
            await sleep(20);
          }
        }
      });
      const sentAt = performance.now();
      assert.ok(outage, 'Redis was killed during the stream');
      await outage;

      let stalled = '';
      await waitFor(() => accepted.tally(devices).missing === 0, 'every accepted message to reach its device', 60_000, 100).catch((err: Error) => {
        stalled = err.message;
      });
      const result = accepted.tally(devices);

      // Answers to requests made and answered while Redis was down; the others were in
      // flight at the kill or the restart.
      const whileDown = refusals.filter((x) => x.startedAt >= downAt && x.startedAt + x.r.ms <= upAt).map((x) => x.r);
      const around = refusals.filter((x) => !whileDown.includes(x.r));
      const slowest = (rs: SendResult[]) => Math.max(0, ...rs.map((r) => r.ms));
      const firstAfterUp = Math.min(...[...accepted.at.values()].filter((at) => at > upAt));
      // A message shown but never accepted: its writes went through and the answer was
      // lost with Redis (a 503 for a message that was in fact stored and sent).
      const strays = devices.flatMap((dev) => [...dev.firstShown].filter(([id]) => accepted.devices.get(id) !== dev).map(([, s]) => (s.data as { k?: number }).k));
      const strayRefusals = refusals.filter((x) => strays.includes(x.k)).map((x) => `k=${x.k} sent ${(x.startedAt - downAt).toFixed(0)} ms after the kill, answered ${x.r.status} ${x.r.code ?? ''} after ${x.r.ms.toFixed(0)} ms`);
      diagnostics(t, {
        'messages accepted (202)': `${accepted.size} in ${seconds(sentAt - started)}`,
        'Redis down': `${seconds(upAt - downAt)} (kill -9 after ${KILL_AFTER} accepted, then restarted on its AOF)`,
        'probes while down': probes.map((p) => `${p.status} ${p.code ?? p.error ?? ''} ${p.ms.toFixed(0)} ms`).join(', '),
        'stream answers while down': `${summary(whileDown)}, slowest ${slowest(whileDown).toFixed(0)} ms`,
        'refused around the kill and the restart': summary(around.map((x) => x.r)),
        'first 202 after the restart': seconds(firstAfterUp - upAt),
        'recovery: every message accepted before the kill shown': `${seconds(accepted.caughtUpAfter(downAt))} after the kill, ${seconds(Math.max(0, accepted.caughtUpAfter(downAt) - (upAt - downAt)))} after the restart`,
        'worst 202 -> shown after the restart': seconds(accepted.worstLatency(upAt)),
        'lost (accepted, never shown)': result.missing,
        'duplicates shown to apps': result.duplicates,
        'shown but answered 503 (stored, answer lost)': `${result.unaccepted}${strayRefusals.length ? `: ${strayRefusals.join('; ')}` : ''}`,
      });

      assert.ok(probes.length >= 3, 'probed while Redis was down');
      for (const p of probes) {
        assert.equal(p.status, 503, `probe while Redis is down: ${JSON.stringify(p)}`);
        assert.equal(p.code, 'storage_unavailable');
        assert.ok(p.ms < 1000, `503 within 1 s, took ${p.ms.toFixed(0)} ms`);
      }
      for (const r of whileDown) assert.ok(r.status === 503 && r.code === 'storage_unavailable', `while down: ${JSON.stringify(r)}`);
      assert.ok(slowest(whileDown) < 1000, `every answer while down within 1 s (slowest ${slowest(whileDown).toFixed(0)} ms)`);
      for (const x of around) assert.ok(x.r.status === 503 && x.r.code === 'storage_unavailable', `around the outage: ${JSON.stringify(x.r)}`);
      assert.ok(accepted.size >= TARGET, 'the API accepts again after the restart');
      assert.equal(stalled, '', `${result.missing} accepted messages never reached their device\n${context(processes)}`);
      assert.equal(result.missing, 0, 'no 202-acknowledged message lost');
      assert.equal(result.duplicates, 0, 'no app sees a message twice');
      for (const device of devices) assert.deepEqual(device.errors, [], `SDK errors on ${device.deviceId}`);
    } finally {
      await Promise.all(devices.map((dev) => dev.close()));
      await group.killAll();
      // Its keys live only in this private Redis and go with its data directory.
      await server.destroy();
    }
  });
});
