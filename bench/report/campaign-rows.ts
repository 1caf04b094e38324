// Rows for the list campaign to a million devices (issue #5 item 5, bench/campaign.ts):
// time to target, peak RSS of every process, Redis memory, and whether the service's
// memory stays bounded as the audience grows tenfold.

import { count, decimal } from './format.js';
import { at, booleanAt, isRecord, numberAt, recordsAt, stringAt, type JsonRecord } from './json-fields.js';
import type { ResultSet } from './result-set.js';
import { targetRow, type TargetRow } from './target-row.js';

/** The process names the campaign bench meters, as a reader knows them. */
function processName(key: string): string {
  return key === 'all' ? 'petrel all' : key;
}

/** "petrel all 331, redis-server 489 MB" from `{all: 330.5, …}`, keys as written; `used_memory` entries are not processes. */
function perProcessMB(record: unknown): string | undefined {
  if (!isRecord(record)) return undefined;
  const parts = Object.entries(record)
    .filter(([key, value]) => typeof value === 'number' && !key.includes('used_memory'))
    .map(([key, value]) => `${processName(key)} ${count(value as number)}`);
  return parts.length > 0 ? `${parts.join(', ')} MB` : undefined;
}

/** Live heap after a full GC per service process: "petrel all 46.2 → 48.7 MB". */
function liveHeap(before: unknown, after: unknown): string | undefined {
  if (!isRecord(before) || !isRecord(after)) return undefined;
  const parts = Object.keys(before)
    .map((key) => {
      const from = numberAt(before, key, 'heapUsedMB');
      const to = numberAt(after, key, 'heapUsedMB');
      return from === undefined || to === undefined ? undefined : `${processName(key)} ${decimal(from, 1)} → ${decimal(to, 1)} MB`;
    })
    .filter((part): part is string => part !== undefined);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

export function campaignRows(results: ResultSet): TargetRow[] {
  const name = 'campaign';
  const file = results.get(name);
  const runs = recordsAt(file?.data, 'runs')
    .filter((run) => numberAt(run, 'audience') !== undefined)
    .sort((a, b) => numberAt(a, 'audience')! - numberAt(b, 'audience')!);
  const smallest: JsonRecord | undefined = runs[0];
  const largest: JsonRecord | undefined = runs[runs.length - 1];
  const audience = numberAt(largest, 'audience');
  const lines = audience === undefined ? 'the largest list' : `${count(audience)} lines`;
  const first = numberAt(smallest, 'audience');
  const span = first === undefined || audience === undefined || runs.length < 2 ? 'smallest → largest list' : `${count(first)} → ${count(audience)} lines`;
  const layout = stringAt(file?.data, 'config', 'layout') === 'split' ? 'split layout' : '`petrel all`';
  return [
    targetRow({ issue: 5, measure: `List campaign, ${lines}: time to target (start → every line handed to the send path)`, target: 'report' }, name, file, () => {
      const seconds = numberAt(largest, 'campaign', 'timeToTargetSeconds');
      if (seconds === undefined) return undefined;
      const rate = numberAt(largest, 'campaign', 'linesPerSecond');
      return { petrel: `${decimal(seconds, 1)} s${rate === undefined ? '' : ` (${count(rate)} lines/s)`}` };
    }),
    targetRow({ issue: 5, measure: `Service peak RSS (${layout}), ${span}`, target: 'bounded' }, name, file, ({ data }) => {
      const from = numberAt(smallest, 'memory', 'servicePeakRssMB');
      const to = numberAt(largest, 'memory', 'servicePeakRssMB');
      if (from === undefined || to === undefined || runs.length < 2) return undefined;
      const rss = numberAt(data, 'bounded', 'servicePeakRssRatio');
      const audienceRatio = numberAt(data, 'bounded', 'audienceRatio');
      const growth = rss === undefined || audienceRatio === undefined ? '' : ` (×${decimal(rss, 2)} for ×${decimal(audienceRatio, 0)} lines)`;
      const bounded = booleanAt(data, 'bounded', 'serviceBounded');
      return { petrel: `${count(from)} → ${count(to)} MB${growth}`, ...(bounded === undefined ? {} : { met: bounded }) };
    }),
    targetRow({ issue: 5, measure: `Service live heap after a full GC, before → after the campaign, ${lines}`, target: 'bounded' }, name, file, () => {
      const text = liveHeap(at(largest, 'memory', 'serviceLiveBefore'), at(largest, 'memory', 'serviceLiveAfter'));
      return text === undefined ? undefined : { petrel: text };
    }),
    targetRow({ issue: 5, measure: `Peak RSS of every process, ${lines}`, target: 'report' }, name, file, () => {
      const text = perProcessMB(at(largest, 'memory', 'peakRssMB'));
      return text === undefined ? undefined : { petrel: text };
    }),
    targetRow({ issue: 5, measure: `Redis \`used_memory\` after the upload → after the campaign, ${lines}`, target: 'report' }, name, file, () => {
      const from = numberAt(largest, 'memory', 'redisUsedMB', 'afterUpload');
      const to = numberAt(largest, 'memory', 'redisUsedMB', 'afterCampaign');
      if (from === undefined || to === undefined) return undefined;
      const perDevice = numberAt(largest, 'memory', 'redisBytesPerDeviceForCampaign');
      return { petrel: `${decimal(from, 1)} → ${decimal(to, 1)} MB (+${decimal(to - from, 1)} MB${perDevice === undefined ? '' : `, ${count(perDevice)} B per device`})` };
    }),
  ];
}
