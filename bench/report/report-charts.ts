// The report's charts, each built from one result file: broadcast deliveries per trial
// against the MQTT brokers, idle RSS per connection against the bare floor, the HTTP
// accept-rate steps, unicast latency per ramp step, campaign memory per audience.

import { median } from '../lib/proc.js';
import { byText, count, day, decimal, kilobytes, milliseconds } from './format.js';
import { at, isRecord, numberAt, recordsAt, stringAt } from './json-fields.js';
import type { ResultSet } from './result-set.js';
import { peerRuns, trials, type BroadcastRun } from './broadcast-results.js';
import { HEARTBEAT_TARGET_DEVICES, idlePeers, RSS_PER_CONNECTION_LIMIT_BYTES } from './idle-rows.js';
import { renderBarChart, type Bar, type BarChart, type BarGroup } from './svg-bars.js';

export interface ChartFile {
  /** File name under bench/results/charts/. */
  file: string;
  /** What the chart shows, for the link to it. */
  title: string;
  svg: string;
}

const SYSTEM_ORDER = ['petrel', 'aedes', 'mosquitto'];

function systemRank(system: string): number {
  const rank = SYSTEM_ORDER.indexOf(system);
  return rank === -1 ? SYSTEM_ORDER.length : rank;
}

function source(name: string, date: string | undefined): string {
  return `${name}.json${date === undefined ? '' : `, ${day(date)}`}`;
}

function chart(file: string, title: string, spec: BarChart): ChartFile {
  return { file, title, svg: renderBarChart(spec) };
}

function broadcastChart(run: BroadcastRun): ChartFile | undefined {
  const all = trials(run);
  if (all.length === 0) return undefined;
  const keys = [...new Set(all.map((t) => `${t.subscribers}/${t.run}`))];
  const groups: BarGroup[] = keys
    .map((key) => all.filter((t) => `${t.subscribers}/${t.run}` === key))
    .sort((a, b) => a[0]!.subscribers - b[0]!.subscribers || a[0]!.run - b[0]!.run)
    .map((same) => ({
      label: `${count(same[0]!.subscribers)} subscribers${run.runs > 1 ? `, run ${same[0]!.run}` : ''}`,
      bars: [...same].sort((a, b) => systemRank(a.system) - systemRank(b.system) || byText(a.system, b.system)).map((t) => ({ label: t.system === 'petrel' ? 'Petrel' : t.system, value: t.deliveriesPerSecond, series: t.system })),
    }));
  const client = run.client === 'sdk' ? 'Petrel with SDK devices' : 'Petrel with raw-client devices';
  return chart(`${run.file.name}.svg`, `Broadcast deliveries/s per trial, ${client} vs the MQTT brokers (${source(run.file.name, run.file.date)})`, {
    title: 'Broadcast deliveries/s (received and ACKed), every trial',
    subtitle: `${client}; brokers driven by the MQTT client; ${source(run.file.name, run.file.date)}`,
    groups,
    format: (v) => `${count(v)}/s`,
  });
}

function idleRssChart(results: ResultSet): ChartFile | undefined {
  const idle = results.get('idle-connections');
  if (idle === undefined) return undefined;
  const peerLabel = (peer: string) => (peer === 'floor' ? 'bare node:net' : peer);
  const measures: Array<{ label: string; petrel: string; peer: (peer: string) => string }> = [
    { label: 'marginal: slope over the fleet, after GC', petrel: 'rssPerConnectionBytes', peer: (p) => `${p}RssPerConnectionBytes` },
    { label: 'average over the whole fleet, after GC', petrel: 'rssAveragePerConnectionBytes', peer: (p) => `${p}RssAveragePerConnectionBytes` },
    { label: 'average right after the connect burst', petrel: 'rssPerConnectionAfterBurstBytes', peer: (p) => `${p}RssPerConnectionAfterBurstBytes` },
  ];
  const peers = ['floor', ...idlePeers(idle.data)];
  const devices = numberAt(idle.data, 'connected');
  const groups: BarGroup[] = [];
  for (const measure of measures) {
    const bars: Bar[] = [];
    const petrel = numberAt(idle.data, measure.petrel);
    if (petrel !== undefined) bars.push({ label: 'Petrel gateway', value: petrel, series: 'petrel' });
    for (const peer of peers) {
      const value = numberAt(idle.data, measure.peer(peer));
      if (value !== undefined) bars.push({ label: peerLabel(peer), value, series: peer });
    }
    if (bars.length > 0) groups.push({ label: `${measure.label}${devices === undefined ? '' : `, ${count(devices)} devices`}`, bars });
  }
  const fleet = results.get('idle-fleet');
  const fleetBytes = numberAt(fleet?.data, 'rssPerConnectionBytes');
  const fleetDevices = numberAt(fleet?.data, 'connected');
  if (fleet !== undefined && fleetBytes !== undefined) {
    const gateways = numberAt(fleet.data, 'gateways');
    groups.push({
      label: `marginal, ${fleetDevices === undefined ? 'the fleet' : `${count(fleetDevices)} devices`}${gateways === undefined ? '' : ` over ${count(gateways)} gateways`} (${source(fleet.name, fleet.date)})`,
      bars: [{ label: 'Petrel gateways', value: fleetBytes, series: 'petrel' }],
    });
  }
  if (groups.length === 0) return undefined;
  return chart('idle-rss.svg', `Idle RSS per authenticated connection, Petrel vs the bare node:net floor${peers.length > 1 ? ' and the MQTT brokers' : ''} (${source(idle.name, idle.date)})`, {
    title: 'RSS per idle authenticated connection',
    subtitle: `one gateway process${devices === undefined ? '' : `, ${count(devices)} devices`}, floor measured in the same run; ${source(idle.name, idle.date)}`,
    groups,
    format: kilobytes,
    marker: { value: RSS_PER_CONNECTION_LIMIT_BYTES, label: 'target ≤ 2.5 KB' },
  });
}

function idleHeartbeatChart(results: ResultSet): ChartFile | undefined {
  const idle = results.get('idle-connections');
  const petrel = numberAt(idle?.data, 'gatewayCpuPercentOfOneCore');
  if (idle === undefined || petrel === undefined) return undefined;
  const bars: Bar[] = [{ label: 'Petrel gateway', value: petrel, series: 'petrel' }];
  const floor = numberAt(idle.data, 'floorHeartbeatCpuPercentOfOneCore');
  if (floor !== undefined) bars.push({ label: 'bare node:net', value: floor, series: 'floor' });
  for (const peer of idlePeers(idle.data)) {
    const value = numberAt(idle.data, `${peer}HeartbeatCpuPercentOfOneCore`);
    if (value !== undefined) bars.push({ label: peer, value, series: peer });
  }
  const devices = numberAt(idle.data, 'connected');
  const groups: BarGroup[] = [{ label: `${devices === undefined ? 'the fleet' : `${count(devices)} devices`}, one gateway`, bars }];
  const fleet = results.get('idle-fleet');
  const fleetPercent = numberAt(fleet?.data, 'gatewaysCpuPercentPer19000');
  if (fleet !== undefined && fleetPercent !== undefined) {
    groups.push({ label: `the fleet of ${source(fleet.name, fleet.date)}, per ${count(HEARTBEAT_TARGET_DEVICES)} devices`, bars: [{ label: 'Petrel gateways', value: fleetPercent, series: 'petrel' }] });
  }
  const heartbeat = numberAt(idle.data, 'heartbeatSec');
  return chart('idle-heartbeat.svg', `Heartbeat CPU, Petrel vs the bare node:net floor${bars.length > 2 ? ' and the MQTT brokers' : ''} (${source(idle.name, idle.date)})`, {
    title: 'CPU for heartbeats, % of one core',
    subtitle: `${heartbeat === undefined ? '' : `a PING per device every ${heartbeat} s; `}${source(idle.name, idle.date)}`,
    groups,
    format: (v) => `${decimal(v, 2)} %`,
    marker: { value: 2, label: 'target < 2 %' },
  });
}

function phaseLabel(phase: string): string {
  const batch = /^batch-(\d+)$/.exec(phase);
  if (batch !== null) return `POST /v1/messages/batch, ${count(Number(batch[1]))} messages per request`;
  if (phase === 'single-aliases') return 'POST /v1/messages, one message to an alias';
  if (phase === 'single-devices') return 'POST /v1/messages, one message to a device';
  return phase;
}

function acceptRateChart(results: ResultSet): ChartFile | undefined {
  const file = results.get('accept-rate');
  if (file === undefined) return undefined;
  const runs = recordsAt(file.data, 'perRun');
  const phases = [...new Set(runs.flatMap((run) => (isRecord(run['ramps']) ? Object.keys(run['ramps']) : [])))];
  const groups: BarGroup[] = [];
  for (const phase of phases) {
    const steps = runs.flatMap((run) => recordsAt(run, 'ramps', phase, 'steps'));
    const rates = [...new Set(steps.map((step) => numberAt(step, 'rate')).filter((r): r is number => r !== undefined))].sort((a, b) => a - b);
    const bars: Bar[] = [];
    for (const rate of rates) {
      const same = steps.filter((step) => numberAt(step, 'rate') === rate);
      const accepted = same.map((step) => numberAt(step, 'acceptedPerSecond')).filter((v): v is number => v !== undefined);
      if (accepted.length === 0) continue;
      const kept = same.filter((step) => at(step, 'keptUp') === true).length;
      bars.push({ label: `offered ${count(rate)}/s, kept up ${kept} of ${same.length}`, value: median(accepted), series: kept === same.length ? 'kept up' : 'not kept up' });
    }
    if (bars.length > 0) groups.push({ label: phaseLabel(phase), bars });
  }
  if (groups.length === 0) return undefined;
  return chart('accept-rate.svg', `HTTP accept rate per offered step (${source(file.name, file.date)})`, {
    title: 'HTTP accept: messages/s accepted (202) per offered step',
    subtitle: `median over the runs that reached each step; ${source(file.name, file.date)}`,
    groups,
    format: (v) => `${count(v)}/s`,
  });
}

function unicastLatencyChart(results: ResultSet): ChartFile | undefined {
  const file = results.get('unicast');
  if (file === undefined) return undefined;
  const steps = recordsAt(file.data, 'perRun').flatMap((run) => recordsAt(run, 'detail', 'ramp'));
  const rates = [...new Set(steps.map((step) => numberAt(step, 'offeredRate')).filter((r): r is number => r !== undefined))].sort((a, b) => a - b);
  const groups: BarGroup[] = [];
  for (const rate of rates) {
    const same = steps.filter((step) => numberAt(step, 'offeredRate') === rate);
    const bars: Bar[] = [];
    for (const quantile of ['p50', 'p99'] as const) {
      const values = same.map((step) => numberAt(step, 'latency', `${quantile}Ms`)).filter((v): v is number => v !== undefined);
      if (values.length > 0) bars.push({ label: quantile, value: median(values), series: quantile });
    }
    if (bars.length > 0) groups.push({ label: `${count(rate)} messages/s offered (${same.length} run${same.length === 1 ? '' : 's'})`, bars });
  }
  if (groups.length === 0) return undefined;
  const devices = numberAt(file.data, 'connected');
  const layout = stringAt(file.data, 'config', 'layout');
  return chart('unicast-latency.svg', `Unicast latency per ramp step (${source(file.name, file.date)})`, {
    title: 'Unicast latency, due to send → device receives, per ramp step',
    subtitle: `${layout === undefined ? '' : `petrel ${layout}, `}${devices === undefined ? '' : `${count(devices)} devices online, `}median over the runs that reached each step; ${source(file.name, file.date)}`,
    groups,
    format: milliseconds,
  });
}

function campaignMemoryChart(results: ResultSet): ChartFile | undefined {
  const file = results.get('campaign');
  if (file === undefined) return undefined;
  const runs = recordsAt(file.data, 'runs').filter((run) => numberAt(run, 'audience') !== undefined).sort((a, b) => numberAt(a, 'audience')! - numberAt(b, 'audience')!);
  const groups: BarGroup[] = [];
  for (const run of runs) {
    const bars: Bar[] = [];
    const add = (label: string, value: number | undefined, series: string) => {
      if (value !== undefined) bars.push({ label, value, series });
    };
    add('service peak RSS', numberAt(run, 'memory', 'servicePeakRssMB'), 'service');
    add('service live heap after GC, after', numberAt(run, 'memory', 'serviceLiveAfter', 'all', 'heapUsedMB'), 'service');
    add('redis-server peak RSS', numberAt(run, 'memory', 'peakRssMB', 'redis-server'), 'redis');
    add('Redis used_memory after the upload', numberAt(run, 'memory', 'redisUsedMB', 'afterUpload'), 'redis');
    add('Redis used_memory after the campaign', numberAt(run, 'memory', 'redisUsedMB', 'afterCampaign'), 'redis');
    if (bars.length > 0) groups.push({ label: `${count(numberAt(run, 'audience')!)} lines`, bars });
  }
  if (groups.length === 0) return undefined;
  return chart('campaign-memory.svg', `List campaign memory per audience size (${source(file.name, file.date)})`, {
    title: 'List campaign: memory per audience size',
    subtitle: `peak RSS during each campaign, Redis memory around it; ${source(file.name, file.date)}`,
    groups,
    format: (v) => `${decimal(v, 1)} MB`,
  });
}

/** Every chart the results allow, in a fixed order. */
export function buildCharts(results: ResultSet): ChartFile[] {
  const charts = [
    ...peerRuns(results).sort((a, b) => byText(a.file.name, b.file.name)).map(broadcastChart),
    idleRssChart(results),
    idleHeartbeatChart(results),
    acceptRateChart(results),
    unicastLatencyChart(results),
    campaignMemoryChart(results),
  ];
  return charts.filter((c): c is ChartFile => c !== undefined);
}
