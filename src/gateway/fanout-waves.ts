import { AUDIENCE_BUCKETS, compileFilter, type AudienceFilter } from '../domain/audience.js';
import type { Metrics } from '../observability/metrics.js';
import type { BroadcastPublish } from '../rpc/contract.js';
import type { DeviceConnection } from './connection.js';
import type { FanOutIndex } from './fanout-index.js';
import type { InFlightTracker } from './in-flight.js';

/**
 * How long a wave writes before it lets the event loop run, ms (checked every
 * CHECK_EVERY sessions). Thrift hands a gateway every publish queued in one read at once;
 * fanned out in one go each, thirty broadcasts to 19,000 sessions held the loop for over
 * 15 s: no ACK was read, the dispatcher's calls timed out, and the gateway's registry
 * entry lapsed, so later broadcasts found no gateway to publish to. A short slice also
 * matters in `petrel all`, where the dispatcher shares this loop: each Redis round trip
 * of the next broadcasts' dispatch waits for a slice to end, and with 2,000 sessions per
 * slice (20–30 ms here) so few publishes were ready by the next wave that waves averaged
 * 2.3 publishes while forty broadcasts queued upstream.
 */
const SLICE_MS = 4;
const CHECK_EVERY = 64;

/** Publishes in one wave at most (a wave's PUSHes are also capped in bytes: FanOutWaves). */
const MAX_PUBLISHES_PER_WAVE = 32;

/** What a publish did on this gateway. */
export interface PublishOutcome {
  /** Sessions it reached: written, or already in flight there. */
  reached: number;
  /**
   * A later seq of the app's log went out here in an earlier wave: a device may have moved
   * its cursor past this entry before it arrived (idl/gateway.thrift PublishResult.late).
   */
  late: boolean;
}

interface Waiting {
  readonly publish: BroadcastPublish;
  readonly filter: AudienceFilter;
  readonly everyBucket: boolean;
  /** Sessions this publish reached: written, or already in flight there. */
  reached: number;
  late: boolean;
  /** Revoked while its wave was being written: the rest of the wave skips it. */
  revoked: boolean;
  resolve(outcome: PublishOutcome): void;
  reject(err: unknown): void;
}

/**
 * Broadcast fan-out on a gateway, in waves (docs/architecture.md, "Broadcasts"). A publish
 * that arrives while the gateway is still writing earlier ones waits for the wave in
 * progress to end, then goes out with every other publish that waited: one pass over the
 * sessions, and each session's PUSHes of the wave in ONE socket write. When broadcasts
 * queue (a campaign burst, several marketing sends at once) this is what makes the
 * gateway faster, not slower: the write of each PUSH is one system call per device, and
 * on this machine that call is over half of a broadcast's cost; a device reading several
 * PUSHes in one read also ACKs them in one frame. A publish that finds the gateway idle
 * starts a wave of its own at the next turn of the event loop, so an unloaded gateway
 * adds no delay; what a publish may wait is one wave, and it was sharing the gateway's
 * time with those same publishes before.
 *
 * Within a wave a session's PUSHes are in seq order; across waves they keep the order
 * their publishes arrived in, which concurrent send jobs and retried publishes can make
 * differ from seq order: such a publish is answered `late`.
 * A session that has a message in flight already (a catch-up raced the live publish) is
 * not written to twice.
 */
export class FanOutWaves {
  private waiting: Waiting[] = [];
  /** Per app, the highest log seq written in an earlier wave (a publish below it is late). */
  private readonly highestSeq = new Map<string, number>();
  /** The wave being written, if any. */
  private current: readonly Waiting[] = [];
  private running = false;

  constructor(
    private readonly index: FanOutIndex<DeviceConnection>,
    private readonly inFlight: InFlightTracker,
    private readonly metrics: Metrics,
    /** The gateway's tick clock (in-flight re-send deadlines). */
    private readonly now: () => number,
    /**
     * A wave's PUSHes together stay within this many bytes (the first always goes): each
     * session's share is one write, and it must fit in the per-connection send buffer
     * (`gateway.sendBufferBytes`) beside what a healthy device still has queued, or the
     * device would be closed as a slow consumer (4005) for our batching.
     */
    private readonly maxWaveBytes: number,
  ) {}

  /** Fans a publish out in the next wave; resolves with what it did here. */
  fanOut(publish: BroadcastPublish): Promise<PublishOutcome> {
    return new Promise<PublishOutcome>((resolve, reject) => {
      this.waiting.push({
        publish,
        filter: compileFilter(publish.filter),
        everyBucket: publish.fromBucket <= 0 && publish.toBucket >= AUDIENCE_BUCKETS,
        reached: 0,
        late: false,
        revoked: false,
        resolve,
        reject,
      });
      if (this.running) return;
      this.running = true;
      // Publishes read in this turn of the event loop (one Thrift read can carry many,
      // and several dispatcher connections may have read at once) start together.
      setImmediate(() => void this.run());
    });
  }

  /**
   * A broadcast was revoked: a publish of it still waiting is dropped (it resolves having
   * reached no one), and one in the wave being written reaches no further session. The
   * sessions it did reach get the REVOKE from the caller.
   */
  revoke(messageId: string): void {
    for (const w of this.current) if (w.publish.messageId === messageId) w.revoked = true;
    const dropped = this.waiting.filter((w) => w.publish.messageId === messageId);
    if (dropped.length === 0) return;
    this.waiting = this.waiting.filter((w) => w.publish.messageId !== messageId);
    for (const w of dropped) w.resolve({ reached: 0, late: false });
  }

  private async run(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const wave = this.waiting.splice(0, this.waveLength());
        this.current = wave;
        await this.write(wave);
      }
    } finally {
      this.current = [];
      this.running = false;
    }
  }

  /** How many of the waiting publishes the next wave takes. */
  private waveLength(): number {
    let n = 0;
    let bytes = 0;
    for (const w of this.waiting) {
      bytes += w.publish.frame.length;
      if (n > 0 && (n === MAX_PUBLISHES_PER_WAVE || bytes > this.maxWaveBytes)) break;
      n++;
    }
    return n;
  }

  private async write(wave: readonly Waiting[]): Promise<void> {
    this.metrics.publishWaves.inc();
    this.metrics.publishesPerWave.observe(wave.length);
    const byApp = new Map<string, Waiting[]>();
    for (const w of wave) {
      const app = byApp.get(w.publish.appId);
      if (app) app.push(w);
      else byApp.set(w.publish.appId, [w]);
    }
    for (const [appId, publishes] of byApp) {
      // In seq order, so a device reads the wave's PUSHes in the order of the log. Within
      // a wave order cannot lose anything (one write per device); a seq below one written
      // in an earlier wave can: a device may have passed it and gone offline since.
      publishes.sort((a, b) => a.publish.seq - b.publish.seq);
      // A gateway that has written nothing of the app since it started cannot say what
      // its devices saw before (a restart): late, the safe side.
      const highest = this.highestSeq.get(appId);
      for (const w of publishes) {
        w.late = highest === undefined || w.publish.seq < highest;
        if (w.late) this.metrics.publishesLate.inc();
      }
      this.highestSeq.set(appId, Math.max(highest ?? 0, publishes.at(-1)!.publish.seq));
      // One app's failure fails its own publishes (the dispatcher retries them), not the
      // other apps' of the same wave.
      try {
        await this.writeApp(appId, publishes);
        for (const w of publishes) w.resolve({ reached: w.reached, late: w.late });
      } catch (err) {
        for (const w of publishes) w.reject(err);
      }
    }
  }

  private async writeApp(appId: string, publishes: readonly Waiting[]): Promise<void> {
    // With one publish the index yields only sessions its filter matches; with several, the
    // sessions any of them matches, and each is tested against each filter here.
    const tested = publishes.length > 1;
    const frames: Buffer[] = [];
    const writers: Waiting[] = [];
    let written = 0;
    let checked = 0;
    let sliceStart = performance.now();
    let tick = this.now();
    for (const conn of this.index.matchingAny(appId, publishes.map((w) => w.filter))) {
      if (++checked === CHECK_EVERY) {
        checked = 0;
        if (performance.now() - sliceStart >= SLICE_MS) {
          this.metrics.pushesSent.inc(written);
          written = 0;
          await yieldToEventLoop();
          sliceStart = performance.now();
          tick = this.now();
        }
      }
      if (conn.closed) continue;
      frames.length = 0;
      writers.length = 0;
      for (const w of publishes) {
        const p = w.publish;
        if (w.revoked) continue;
        if (tested && !w.filter.matches(conn.topics)) continue;
        if (!w.everyBucket && (conn.bucket < p.fromBucket || conn.bucket >= p.toBucket)) continue;
        if (!this.inFlight.track(conn, p.messageId, p.frame, p.expiresAt, tick, true)) {
          w.reached++;
          continue;
        }
        frames.push(p.frame);
        writers.push(w);
      }
      if (frames.length === 0 || !conn.sendPushes(frames)) continue;
      written += frames.length;
      for (const w of writers) w.reached++;
    }
    this.metrics.pushesSent.inc(written);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
