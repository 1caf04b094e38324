// The committed benchmark results: every bench/results/*.json, keyed by file name.
// Each was written by bench/lib/results.ts report(): `bench`, `date`, `machine`, then
// whatever the benchmark measured.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { byText } from './format.js';
import { isRecord, numberAt, stringAt, type JsonRecord } from './json-fields.js';

export interface ResultFile {
  /** File name without `.json`: `unicast`, `broadcast-raw`, … */
  name: string;
  /** ISO date the benchmark wrote, when it wrote one. */
  date: string | undefined;
  /** "2 × AMD EPYC, 24 GiB, Node v20.20.2", when the file says. */
  machine: string | undefined;
  data: JsonRecord;
}

/** Results by file name. A missing file is simply absent. */
export type ResultSet = ReadonlyMap<string, ResultFile>;

export function describeMachine(data: JsonRecord): string | undefined {
  const cpus = numberAt(data, 'machine', 'cpus');
  const model = stringAt(data, 'machine', 'cpuModel');
  const memGiB = numberAt(data, 'machine', 'memGiB');
  const node = stringAt(data, 'machine', 'node');
  if (cpus === undefined && model === undefined && memGiB === undefined && node === undefined) return undefined;
  return [
    `${cpus ?? '?'} × ${model ?? 'unknown CPU'}`,
    memGiB === undefined ? undefined : `${memGiB} GiB`,
    node === undefined ? undefined : `Node ${node}`,
  ].filter((part) => part !== undefined).join(', ');
}

export function resultFile(name: string, data: JsonRecord): ResultFile {
  const date = stringAt(data, 'date');
  return { name, date: date !== undefined && !Number.isNaN(Date.parse(date)) ? date : undefined, machine: describeMachine(data), data };
}

/** Reads every `*.json` of the directory; a file that is not a JSON object is skipped. */
export function loadResults(dir: string): ResultSet {
  const files = readdirSync(dir).filter((file) => file.endsWith('.json')).sort();
  const results = new Map<string, ResultFile>();
  for (const file of files) {
    const name = file.slice(0, -'.json'.length);
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch {
      continue;
    }
    if (isRecord(data)) results.set(name, resultFile(name, data));
  }
  return results;
}

/** The files whose name matches, latest date first (undated last, then by name). */
export function latestFirst(results: ResultSet, matches: (file: ResultFile) => boolean): ResultFile[] {
  return [...results.values()].filter(matches).sort((a, b) => byText(b.date ?? '', a.date ?? '') || byText(a.name, b.name));
}
