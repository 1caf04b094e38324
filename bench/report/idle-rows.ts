// Rows for idle connections: one gateway holding 19,000 devices (issue #2,
// bench/idle-connections.ts) and a fleet over several gateways (issue #6 item 3,
// bench/idle-fleet.ts).

import { count, decimal, kilobytes, percentOfCore } from './format.js';
import { listAt, numberAt, peersWith } from './json-fields.js';
import type { ResultSet } from './result-set.js';
import { compared, ratio, targetRow, type Reference, type TargetRow } from './target-row.js';

/** Issue #2's targets. */
export const RSS_PER_CONNECTION_LIMIT_BYTES = 2.5 * 1024;
export const CONNECTS_PER_SECOND_TARGET = 5_000;
export const HEARTBEAT_CPU_LIMIT_PERCENT = 2;
/** The fleet size issue #2's heartbeat target is stated for. */
export const HEARTBEAT_TARGET_DEVICES = 19_000;
/** Issue #6 item 3. */
export const FLEET_TARGET_DEVICES = 100_000;

/**
 * MQTT brokers the idle bench measured holding the same fleet in the same run: it writes
 * `<peer>RssPerConnectionBytes` (and `<peer>CpuMicrosPerConnect`,
 * `<peer>HeartbeatCpuPercentOfOneCore`) for each. The bare floor is written as `floor…`.
 */
export function idlePeers(data: unknown): string[] {
  return peersWith(data, 'RssPerConnectionBytes', ['floor']);
}

/** The floor and every peer found, the floor first. */
function references(data: unknown, floorKey: string, peerKey: (peer: string) => string, writtenRatioKey?: string): Reference[] {
  const found: Reference[] = [];
  const floor = numberAt(data, floorKey);
  if (floor !== undefined) found.push({ name: 'bare node:net', short: 'floor', value: floor, written: writtenRatioKey === undefined ? undefined : numberAt(data, writtenRatioKey) });
  for (const peer of idlePeers(data)) {
    const value = numberAt(data, peerKey(peer));
    if (value !== undefined) found.push({ name: peer, short: peer, value });
  }
  return found;
}

export function idleConnectionRows(results: ResultSet): TargetRow[] {
  const name = 'idle-connections';
  const file = results.get(name);
  const devices = numberAt(file?.data, 'connected');
  const fleet = devices === undefined ? '' : `, ${count(devices)} devices`;
  const heartbeat = numberAt(file?.data, 'heartbeatSec');
  return [
    targetRow({ issue: 2, measure: `Idle RSS per authenticated connection, one gateway${fleet} (marginal, after GC)`, target: '≤ 2.5 KB' }, name, file, ({ data }) => {
      const bytes = numberAt(data, 'rssPerConnectionBytes');
      if (bytes === undefined) return undefined;
      const refs = references(data, 'floorRssPerConnectionBytes', (peer) => `${peer}RssPerConnectionBytes`, 'ratioToFloor');
      return { petrel: kilobytes(bytes), ...compared(bytes, refs, kilobytes), met: bytes <= RSS_PER_CONNECTION_LIMIT_BYTES };
    }),
    targetRow({ issue: 2, measure: 'Authenticated connects/s into one gateway, measured (load generator on the same cores)', target: '≥ 5,000/s' }, name, file, ({ data }) => {
      const rate = numberAt(data, 'connectsPerSecond');
      if (rate === undefined) return undefined;
      return { petrel: `${count(rate)}/s`, ratio: ratio(rate, CONNECTS_PER_SECOND_TARGET, 'target'), met: rate >= CONNECTS_PER_SECOND_TARGET };
    }),
    targetRow({ issue: 2, measure: "Gateway's connect capacity on one core (1 s ÷ its CPU per connect)", target: '≥ 5,000/s' }, name, file, ({ data }) => {
      const micros = numberAt(data, 'gatewayCpuMicrosPerConnect');
      const perCore = numberAt(data, 'gatewayConnectCapacityPerCore') ?? (micros === undefined || micros <= 0 ? undefined : 1e6 / micros);
      if (perCore === undefined) return undefined;
      // Compared as capacities (higher is better), each from its CPU per connect.
      const refs = references(data, 'floorCpuMicrosPerConnect', (peer) => `${peer}CpuMicrosPerConnect`)
        .filter((ref) => ref.value > 0)
        .map((ref) => ({ ...ref, name: `${ref.name} (${count(ref.value)} µs)`, value: 1e6 / ref.value }));
      return {
        petrel: `${count(perCore)}/s${micros === undefined ? '' : ` (${count(micros)} µs each)`}`,
        ...compared(perCore, refs, (v) => `${count(v)}/s`, ratio(perCore, CONNECTS_PER_SECOND_TARGET, 'target')),
        met: perCore >= CONNECTS_PER_SECOND_TARGET,
      };
    }),
    targetRow({ issue: 2, measure: `Heartbeat CPU of the gateway${fleet}${heartbeat === undefined ? '' : `, a PING each every ${heartbeat} s`}`, target: '< 2 % of a core' }, name, file, ({ data }) => {
      const percent = numberAt(data, 'gatewayCpuPercentOfOneCore');
      if (percent === undefined) return undefined;
      const refs = references(data, 'floorHeartbeatCpuPercentOfOneCore', (peer) => `${peer}HeartbeatCpuPercentOfOneCore`, 'heartbeatCpuRatioToFloor');
      return { petrel: percentOfCore(percent), ...compared(percent, refs, (v) => `${decimal(v, 2)} %`), met: percent < HEARTBEAT_CPU_LIMIT_PERCENT };
    }),
  ];
}

/** Gateway processes of the fleet: a count, or a list with one entry per gateway. */
function gatewayCount(data: unknown): number | undefined {
  const n = numberAt(data, 'gateways');
  if (n !== undefined) return n;
  const list = listAt(data, 'gateways');
  return list.length > 0 ? list.length : undefined;
}

export function idleFleetRows(results: ResultSet): TargetRow[] {
  const name = 'idle-fleet';
  const file = results.get(name);
  return [
    targetRow({ issue: 6, measure: 'Idle authenticated devices held by several gateway processes', target: '≥ 100,000' }, name, file, ({ data }) => {
      const connected = numberAt(data, 'connected');
      if (connected === undefined) return undefined;
      const gateways = gatewayCount(data);
      return {
        petrel: `${count(connected)}${gateways === undefined ? '' : ` over ${count(gateways)} gateways`}`,
        ratio: ratio(connected, FLEET_TARGET_DEVICES, 'target'),
        met: connected >= FLEET_TARGET_DEVICES,
      };
    }),
    targetRow({ issue: 6, measure: 'Idle RSS per connection at that size (marginal, all gateways, after GC)', target: '≤ 2.5 KB' }, name, file, ({ data }) => {
      const bytes = numberAt(data, 'rssPerConnectionBytes');
      if (bytes === undefined) return undefined;
      return { petrel: kilobytes(bytes), ratio: ratio(bytes, RSS_PER_CONNECTION_LIMIT_BYTES, 'target'), met: bytes <= RSS_PER_CONNECTION_LIMIT_BYTES };
    }),
    targetRow({ issue: 6, measure: `Heartbeat CPU at that size, all gateways, per ${count(HEARTBEAT_TARGET_DEVICES)} devices`, target: '< 2 % of a core' }, name, file, ({ data }) => {
      const connected = numberAt(data, 'connected');
      const total = numberAt(data, 'heartbeatCpuPercentOfOneCore') ?? numberAt(data, 'gatewaysCpuPercentOfOneCore');
      const per19000 = numberAt(data, 'gatewaysCpuPercentPer19000') ?? (total === undefined || connected === undefined || connected === 0 ? undefined : (total * HEARTBEAT_TARGET_DEVICES) / connected);
      if (per19000 === undefined) return undefined;
      return {
        petrel: `${percentOfCore(per19000)}${total === undefined ? '' : ` (${decimal(total, 2)} % in all)`}`,
        ratio: ratio(per19000, HEARTBEAT_CPU_LIMIT_PERCENT, 'target'),
        met: per19000 < HEARTBEAT_CPU_LIMIT_PERCENT,
      };
    }),
  ];
}
