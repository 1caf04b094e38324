/**
 * Counting a broadcast benchmark's deliveries: what every swarm process received and
 * acknowledged per phase (merged), the rate over the measured window, and for Petrel what
 * the server itself counted (the message traces, `GET /v1/messages/{id}`).
 */
import type { Histogram } from 'hdr-histogram-js';
import type { PhaseSample } from './device-swarm.js';
import { addEncoded, latencyHistogram } from './latency.js';
import { sleep } from './proc.js';
import type { Swarm } from './swarm.js';

export interface PhaseDeliveries {
  /** Messages received, over every device. */
  count: number;
  /** Of them acknowledged (SDK ACK frames written, MQTT PUBACKs written). */
  acked: number;
  firstAt: number;
  lastAt: number;
  lastAckAt: number;
  histogram: Histogram;
}

export class Deliveries {
  private readonly phases = new Map<string, PhaseDeliveries>();

  constructor(private readonly swarm: Swarm) {}

  async gather(): Promise<void> {
    for (const s of await this.swarm.collect()) this.merge(s);
  }

  get(phase: string): PhaseDeliveries {
    let r = this.phases.get(phase);
    if (!r) {
      r = { count: 0, acked: 0, firstAt: Infinity, lastAt: 0, lastAckAt: 0, histogram: latencyHistogram() };
      this.phases.set(phase, r);
    }
    return r;
  }

  /** Gathers until `expected` messages of `phase` were received and acknowledged, or nothing changed for `quietMs`. */
  async waitFor(phase: string, expected: number, quietMs: number): Promise<PhaseDeliveries> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      await this.gather();
      const r = this.get(phase);
      if (r.count >= expected && r.acked >= expected) return r;
      const progress = r.count + r.acked;
      if (progress !== last) {
        last = progress;
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
    r.acked += s.acked;
    if (s.count > 0) {
      r.firstAt = Math.min(r.firstAt, s.firstAt);
      r.lastAt = Math.max(r.lastAt, s.lastAt);
    }
    r.lastAckAt = Math.max(r.lastAckAt, s.lastAckAt);
    addEncoded(r.histogram, s.histogram);
  }
}

/**
 * Deliveries per second with ACKs counted: messages both received and acknowledged, over
 * the window from the first broadcast's due time to the last receive or ACK, whichever
 * came later.
 */
export function deliveriesPerSecond(d: PhaseDeliveries, startedAt: number): { perSecond: number; windowMs: number } {
  const end = Math.max(d.lastAt, d.lastAckAt);
  const windowMs = end - startedAt;
  const counted = Math.min(d.count, d.acked);
  return { perSecond: windowMs > 0 ? Math.round((counted * 1000) / windowMs) : 0, windowMs: Math.round(windowMs) };
}

export interface ServerCounts {
  /** Over every message: the audience estimated at publish time, PUSHes written, devices that ACKed. */
  targeted: number;
  sent: number;
  delivered: number;
  /** Traces that could not be read. */
  missing: number;
  states: Record<string, number>;
}

/** Petrel's own counts for the messages: the sum of their traces. */
export async function readTraces(baseUrl: string, serverSecret: string, ids: string[]): Promise<ServerCounts> {
  const out: ServerCounts = { targeted: 0, sent: 0, delivered: 0, missing: 0, states: {} };
  // Ten at a time, each tried three times: a loaded service may reset a connection.
  for (let i = 0; i < ids.length; i += 10) {
    await Promise.all(ids.slice(i, i + 10).map(async (id) => {
      const t = await readTrace(baseUrl, serverSecret, id);
      if (!t) {
        out.missing++;
        return;
      }
      out.targeted += t.counts.targeted ?? 0;
      out.sent += t.counts.sent ?? 0;
      out.delivered += t.counts.delivered ?? 0;
      out.states[t.state] = (out.states[t.state] ?? 0) + 1;
    }));
  }
  return out;
}

interface Trace {
  state: string;
  counts: { targeted?: number; sent?: number; delivered?: number };
}

async function readTrace(baseUrl: string, serverSecret: string, id: string): Promise<Trace | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${baseUrl}/v1/messages/${id}`, { headers: { authorization: `Bearer ${serverSecret}` } });
      if (res.status === 200) return (await res.json()) as Trace;
      await res.text();
      if (res.status < 500 || attempt >= 3) return null;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
    await sleep(500);
  }
}

/** Reads the traces until the server counted `expected` deliveries, or `timeoutMs` passed; the last reading. */
export async function waitForServerCounts(baseUrl: string, serverSecret: string, ids: string[], expected: number, timeoutMs: number): Promise<ServerCounts & { settledMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const c = await readTraces(baseUrl, serverSecret, ids);
    if (c.delivered >= expected || Date.now() - t0 > timeoutMs) return { ...c, settledMs: Date.now() - t0 };
    await sleep(250);
  }
}
