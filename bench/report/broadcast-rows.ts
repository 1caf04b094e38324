// Rows for broadcast fan-out (issue #5 item 5, bench/broadcast.ts): Petrel against
// aedes and mosquitto measured in the same run, and Petrel over several gateways.

import { byText, count, decimal } from './format.js';
import { numberAt, recordsAt } from './json-fields.js';
import type { ResultSet } from './result-set.js';
import { broadcastRuns, peerRuns, summaries, type BroadcastRun, type PetrelClient } from './broadcast-results.js';
import { NONE, targetRow, type TargetRow } from './target-row.js';

/** Issue #5: Petrel ÷ peer, same run. */
export const PEER_TARGETS: ReadonlyArray<{ peer: string; atLeast: number }> = [
  { peer: 'aedes', atLeast: 1.5 },
  { peer: 'mosquitto', atLeast: 1 },
];

const CLIENTS: ReadonlyArray<{ client: PetrelClient; label: string; required: boolean }> = [
  { client: 'sdk', label: 'SDK devices', required: true },
  { client: 'raw', label: 'raw-client devices', required: false },
];

function runsLabel(run: BroadcastRun): string {
  return run.runs > 1 ? `median of ${run.runs} runs` : '1 run';
}

/** The ratio the benchmark wrote (`ratios[]`), else Petrel's rate over the peer's, to two places. */
function peerRatio(run: BroadcastRun, subscribers: number, peer: string, petrel: number, other: number): number {
  const key = `petrelOver${peer.charAt(0).toUpperCase()}${peer.slice(1)}`;
  const written = recordsAt(run.file.data, 'ratios').find((entry) => numberAt(entry, 'subscribers') === subscribers);
  return numberAt(written, key) ?? Number((petrel / other).toFixed(2));
}

function peerRows(run: BroadcastRun, label: string): TargetRow[] {
  const all = summaries(run);
  const sizes = [...new Set(all.map((s) => s.subscribers))].sort((a, b) => a - b);
  const rows: TargetRow[] = [];
  for (const subscribers of sizes) {
    const petrel = all.find((s) => s.subscribers === subscribers && s.system === 'petrel');
    if (petrel === undefined) continue;
    for (const { peer, atLeast } of PEER_TARGETS) {
      const other = all.find((s) => s.subscribers === subscribers && s.system === peer);
      if (other === undefined) continue;
      const spec = { issue: 5, measure: `Broadcast to ${count(subscribers)} ${label}, deliveries/s vs ${peer} (${runsLabel(run)})`, target: `≥ ${atLeast}× ${peer}` };
      rows.push(targetRow(spec, run.file.name, run.file, () => {
        const r = peerRatio(run, subscribers, peer, petrel.deliveriesPerSecond, other.deliveriesPerSecond);
        const lost = petrel.allReceivedAndAcked === false ? ' (not every message ACKed)' : '';
        return { petrel: `${count(petrel.deliveriesPerSecond)}/s${lost}`, peer: `${count(other.deliveriesPerSecond)}/s ${peer}`, ratio: `${decimal(r, 2)}× ${peer}`, met: r >= atLeast };
      }));
    }
  }
  return rows;
}

/** Broadcast against the MQTT peers: the latest comparable run of each client, one gateway, `petrel all`. */
export function broadcastPeerRows(results: ResultSet): TargetRow[] {
  const rows: TargetRow[] = [];
  const candidates = peerRuns(results).filter((run) => run.layout === 'all' && run.gateways === 1);
  for (const { client, label, required } of CLIENTS) {
    const latest = candidates.find((run) => run.client === client);
    const found = latest === undefined ? [] : peerRows(latest, label);
    if (found.length > 0) rows.push(...found);
    else if (required) {
      for (const { peer, atLeast } of PEER_TARGETS) {
        rows.push(targetRow({ issue: 5, measure: `Broadcast to ${label}, deliveries/s vs ${peer}`, target: `≥ ${atLeast}× ${peer}` }, 'broadcast', undefined, () => undefined));
      }
    }
  }
  return rows;
}

/** Petrel over several gateway processes (no peer: one broker process holds at most 19,000 sockets here). */
export function broadcastGatewayRows(results: ResultSet): TargetRow[] {
  const found: Array<{ gateways: number; subscribers: number; row: TargetRow }> = [];
  for (const run of broadcastRuns(results).filter((r) => r.comparable && r.gateways > 1)) {
    for (const entry of summaries(run).filter((s) => s.system === 'petrel')) {
      const clients = run.client === 'sdk' ? 'SDK devices' : 'raw-client devices';
      const spec = { issue: 5, measure: `Broadcast to ${count(entry.subscribers)} ${clients} over ${count(run.gateways)} gateways (${run.layout} layout), deliveries/s (${runsLabel(run)})`, target: NONE };
      const row = targetRow(spec, run.file.name, run.file, () => ({ petrel: `${count(entry.deliveriesPerSecond)}/s` }));
      found.push({ gateways: run.gateways, subscribers: entry.subscribers, row });
    }
  }
  // Fewest gateways and devices first, whatever order the runs were made in.
  found.sort((a, b) => a.gateways - b.gateways || a.subscribers - b.subscribers || byText(a.row.measure, b.row.measure));
  return found.map(({ row }) => row);
}
