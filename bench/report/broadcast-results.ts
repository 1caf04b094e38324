// The broadcast benchmark's result files (bench/broadcast.ts writes broadcast*.json,
// named after what differs from the default run) and what each one measured.

import { booleanAt, numberAt, recordsAt, stringAt } from './json-fields.js';
import { latestFirst, type ResultFile, type ResultSet } from './result-set.js';

export type PetrelClient = 'sdk' | 'raw';

export interface BroadcastRun {
  file: ResultFile;
  /** Petrel's subscribers: the SDK, or the minimal client on the shared codec. */
  client: PetrelClient;
  layout: string;
  gateways: number;
  /** Whole runs; summary figures are their medians. */
  runs: number;
  /** A profiled or quick run: its rates are not comparable. */
  comparable: boolean;
  systems: string[];
}

/** One system at one subscriber count: the summary (median of runs) entry. */
export interface BroadcastSummary {
  subscribers: number;
  system: string;
  deliveriesPerSecond: number;
  allReceivedAndAcked: boolean | undefined;
}

/** One measured trial: a system at a subscriber count in one run. */
export interface BroadcastTrial extends BroadcastSummary {
  run: number;
}

function clientOf(file: ResultFile): PetrelClient {
  const stated = stringAt(file.data, 'client') ?? stringAt(file.data, 'config', 'petrelClient') ?? '';
  return stated.startsWith('raw') ? 'raw' : 'sdk';
}

function describe(file: ResultFile): BroadcastRun {
  const { data } = file;
  const systems = [...new Set(recordsAt(data, 'summary').map((entry) => stringAt(entry, 'system')).filter((s): s is string => s !== undefined))];
  return {
    file,
    client: clientOf(file),
    layout: stringAt(data, 'config', 'layout') ?? 'all',
    gateways: numberAt(data, 'config', 'gateways') ?? 1,
    runs: numberAt(data, 'config', 'runs') ?? 1,
    comparable: booleanAt(data, 'config', 'cpuProfile') !== true && booleanAt(data, 'config', 'quick') !== true,
    systems,
  };
}

/** Every broadcast result, latest first. */
export function broadcastRuns(results: ResultSet): BroadcastRun[] {
  return latestFirst(results, (file) => file.name === 'broadcast' || file.name.startsWith('broadcast-')).map(describe);
}

/** Runs that measured Petrel beside at least one MQTT broker, comparable, latest first. */
export function peerRuns(results: ResultSet): BroadcastRun[] {
  return broadcastRuns(results).filter((run) => run.comparable && run.systems.includes('petrel') && run.systems.some((system) => system !== 'petrel'));
}

function summaryOf(entry: unknown): BroadcastSummary | undefined {
  const subscribers = numberAt(entry, 'subscribers');
  const system = stringAt(entry, 'system');
  const deliveriesPerSecond = numberAt(entry, 'deliveriesPerSecond');
  if (subscribers === undefined || system === undefined || deliveriesPerSecond === undefined) return undefined;
  return { subscribers, system, deliveriesPerSecond, allReceivedAndAcked: booleanAt(entry, 'allReceivedAndAcked') };
}

export function summaries(run: BroadcastRun): BroadcastSummary[] {
  return recordsAt(run.file.data, 'summary').map(summaryOf).filter((s): s is BroadcastSummary => s !== undefined);
}

/** Every trial of every run (`perRun`: a list per run of one entry per system and size). */
export function trials(run: BroadcastRun): BroadcastTrial[] {
  const out: BroadcastTrial[] = [];
  const perRun = run.file.data['perRun'];
  if (!Array.isArray(perRun)) return out;
  perRun.forEach((entries, index) => {
    for (const entry of recordsAt(entries)) {
      const summary = summaryOf(entry);
      if (summary !== undefined) out.push({ ...summary, allReceivedAndAcked: undefined, run: index + 1 });
    }
  });
  return out;
}
