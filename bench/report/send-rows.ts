// Rows for the send path: unicast end to end (issue #3, bench/unicast.ts) and the
// HTTP accept rate (issue #4 item 10, bench/accept-rate.ts).

import { count, milliseconds } from './format.js';
import { isRecord, numberAt, peersWith } from './json-fields.js';
import type { ResultSet } from './result-set.js';
import { compared, ratio, targetRow, type Reference, type TargetRow } from './target-row.js';

export const UNICAST_RATE_TARGET = 5_000;
export const UNICAST_P50_LIMIT_MS = 10;
export const UNICAST_P99_LIMIT_MS = 50;
export const REPLAY_LIMIT_MS = 200;
export const SINGLE_REQUESTS_TARGET = 4_000;
export const BATCH_MESSAGES_TARGET = 50_000;

/**
 * MQTT brokers the unicast bench drove after Petrel in the same run: it writes
 * `<peer>LatencyP50Ms`, `<peer>LatencyP99Ms`, `<peer>RampHighestKeptUp` and
 * `<peer>CpuMicrosPerMessage` for each (`aedesRedis`: aedes with Redis persistence).
 */
export function unicastPeers(data: unknown): string[] {
  return peersWith(data, 'LatencyP50Ms');
}

/** How the table names a peer: `aedesRedis` is aedes's durable variant. */
export function unicastPeerName(peer: string): string {
  return peer === 'aedesRedis' ? 'aedes + Redis' : peer;
}

/** Peer and ratio cells for a unicast figure: each peer's `<peer><field>`, Petrel's over each. */
function unicastCompared(data: unknown, petrel: number, field: string, format: (value: number) => string): { peer?: string; ratio?: string } {
  const refs = unicastPeers(data).flatMap((peer): Reference[] => {
    const value = numberAt(data, `${peer}${field}`);
    const name = unicastPeerName(peer);
    return value === undefined ? [] : [{ name, short: name, value }];
  });
  return compared(petrel, refs, format);
}

export function unicastRows(results: ResultSet): TargetRow[] {
  const name = 'unicast';
  const file = results.get(name);
  const data = file?.data;
  const devices = numberAt(data, 'connected');
  const online = devices === undefined ? '' : `, ${count(devices)} devices online`;
  const rate = numberAt(data, 'latencyRate');
  const atRate = rate === undefined ? '' : ` at ${count(rate)} messages/s`;
  const sustainSec = numberAt(data, 'config', 'sustainSec');
  const p99Limit = numberAt(data, 'config', 'p99LimitMs');
  const held = `${sustainSec === undefined ? '' : ` for ${count(sustainSec)} s`}${p99Limit === undefined ? '' : ` (all delivered, p99 ≤ ${count(p99Limit)} ms)`}`;
  const pending = numberAt(data, 'config', 'replayPending');
  const rounds = numberAt(data, 'config', 'replayRounds');
  return [
    targetRow({ issue: 3, measure: `Unicast end to end, highest rate held${held}${online}`, target: '≥ 5,000 messages/s' }, name, file, ({ data }) => {
      const sustained = numberAt(data, 'sustainedRate');
      if (sustained === undefined) return undefined;
      return { petrel: `${count(sustained)} messages/s`, ratio: ratio(sustained, UNICAST_RATE_TARGET, 'target'), met: sustained >= UNICAST_RATE_TARGET };
    }),
    targetRow({ issue: 3, measure: `Unicast ramp, highest step kept up (all delivered, p99 ≤ ${p99Limit === undefined ? 'limit' : `${count(p99Limit)} ms`}), MQTT brokers with the same schedule`, target: 'report' }, name, file, ({ data }) => {
      const best = numberAt(data, 'rampHighestKeptUp');
      if (best === undefined) return undefined;
      return { petrel: `${count(best)} messages/s`, ...unicastCompared(data, best, 'RampHighestKeptUp', (v) => `${count(v)}/s`) };
    }),
    targetRow({ issue: 3, measure: `Unicast CPU per message${atRate}: Petrel's service process(es), a broker (with Redis for aedes + Redis)`, target: 'report' }, name, file, ({ data }) => {
      const percent = numberAt(data, 'latencyServiceCpuPercent');
      if (percent === undefined || rate === undefined || rate <= 0) return undefined;
      const micros = (percent * 10_000) / rate;
      return { petrel: `${count(micros)} µs`, ...unicastCompared(data, micros, 'CpuMicrosPerMessage', (v) => `${count(v)} µs`) };
    }),
    targetRow({ issue: 3, measure: `Unicast p50${atRate}, due to send → device receives (first phase)`, target: '≤ 10 ms' }, name, file, ({ data }) => {
      const p50 = numberAt(data, 'latencyP50Ms');
      if (p50 === undefined) return undefined;
      const peers = unicastCompared(data, p50, 'LatencyP50Ms', milliseconds);
      return { petrel: milliseconds(p50), ratio: ratio(p50, UNICAST_P50_LIMIT_MS, 'target'), ...peers, met: p50 <= UNICAST_P50_LIMIT_MS };
    }),
    targetRow({ issue: 3, measure: `Unicast p99${atRate}, due to send → device receives (first phase)`, target: '≤ 50 ms' }, name, file, ({ data }) => {
      const p99 = numberAt(data, 'latencyP99Ms');
      if (p99 === undefined) return undefined;
      const peers = unicastCompared(data, p99, 'LatencyP99Ms', milliseconds);
      return { petrel: milliseconds(p99), ratio: ratio(p99, UNICAST_P99_LIMIT_MS, 'target'), ...peers, met: p99 <= UNICAST_P99_LIMIT_MS };
    }),
    targetRow({ issue: 3, measure: `Reconnect with ${pending === undefined ? '' : `${count(pending)} `}pending messages: HELLO → last PUSH${rounds === undefined ? '' : `, worst of ${count(rounds)}`}`, target: '≤ 200 ms' }, name, file, ({ data }) => {
      const worst = numberAt(data, 'replayMaxMs');
      if (worst === undefined) return undefined;
      const median = numberAt(data, 'replayMedianMs');
      return { petrel: `${milliseconds(worst)}${median === undefined ? '' : ` (median ${milliseconds(median)})`}`, ratio: ratio(worst, REPLAY_LIMIT_MS, 'target'), met: worst <= REPLAY_LIMIT_MS };
    }),
  ];
}

/** The batch phase that kept up the most messages/s (`batch-<size>.keptUpMessagesPerSec`); a tie goes to the smaller batch. */
function bestBatch(data: unknown): { size: number; messagesPerSec: number } | undefined {
  if (!isRecord(data)) return undefined;
  let best: { size: number; messagesPerSec: number } | undefined;
  for (const [key, value] of Object.entries(data)) {
    const match = /^batch-(\d+)\.keptUpMessagesPerSec$/.exec(key);
    if (match === null || typeof value !== 'number' || !Number.isFinite(value)) continue;
    const size = Number(match[1]);
    if (best === undefined || value > best.messagesPerSec || (value === best.messagesPerSec && size < best.size)) best = { size, messagesPerSec: value };
  }
  return best;
}

/** How many `petrel api` processes served the run (results before 2026-12-03: one). */
function apiProcesses(data: unknown): string {
  const workers = numberAt(data, 'config', 'apiWorkers') ?? 1;
  return workers === 1 ? 'one API process' : `${count(workers)} API processes`;
}

export function acceptRateRows(results: ResultSet): TargetRow[] {
  const name = 'accept-rate';
  const file = results.get(name);
  return [
    targetRow({ issue: 4, measure: 'HTTP accept, single-message `POST /v1/messages` (to an alias), highest rate kept up', target: '≥ 4,000 requests/s' }, name, file, ({ data }) => {
      const rate = numberAt(data, 'single-aliases.keptUpRequestsPerSec');
      if (rate === undefined) return undefined;
      return { petrel: `${count(rate)} requests/s (${apiProcesses(data)})`, ratio: ratio(rate, SINGLE_REQUESTS_TARGET, 'target'), met: rate >= SINGLE_REQUESTS_TARGET };
    }),
    targetRow({ issue: 4, measure: 'HTTP accept through `POST /v1/messages/batch`, highest rate kept up', target: '≥ 50,000 messages/s' }, name, file, ({ data }) => {
      const best = bestBatch(data);
      if (best === undefined) return undefined;
      return {
        petrel: `${count(best.messagesPerSec)} messages/s (${count(best.size)} per request, ${apiProcesses(data)})`,
        ratio: ratio(best.messagesPerSec, BATCH_MESSAGES_TARGET, 'target'),
        met: best.messagesPerSec >= BATCH_MESSAGES_TARGET,
      };
    }),
  ];
}
