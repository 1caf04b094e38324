/**
 * Idle connection cost (issue #2): one gateway process, N authenticated idle devices held
 * by several client processes. Memory is read right after the connect burst and after a
 * full GC (both processes run with --expose-gc), the latter being what an idle fleet
 * costs once the handshake garbage is gone. Reports RSS and heap per connection, authenticated connects
 * per second, and the gateway CPU spent while every device heartbeats every 30 s.
 * The floor — a bare node:net server holding the same number of sockets — is measured in
 * the same run so the ratio does not depend on the machine's mood.
 *
 * Env: BENCH_DEVICES (19000), BENCH_CLIENT_PROCS (4), BENCH_HB_WINDOW_S (30 = one heartbeat period, per side),
 *      BENCH_CONCURRENCY (per client process, 256), BENCH_RUNS (3: figures are medians),
 *      BENCH_PETREL_CLIENT (sdk | raw: the devices are the SDK, or the minimal client of
 *      bench/lib/raw-petrel-client.ts, which spends less of the shared cores per connect),
 *      BENCH_PEERS (mosquitto,aedes: MQTT brokers holding the same fleet after the floor;
 *      `none` to skip them).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureMemory, quarter, type MemoryFigures } from './lib/fleet-memory.js';
import { ensureMosquitto, startAedes, startMosquitto } from './lib/mqtt-brokers.js';
import { cpuSeconds, median, rssBytes, sleep } from './lib/proc.js';
import { provisionTenant } from './lib/provision.js';
import { report } from './lib/results.js';
import { moduleCommand, scrape, startPetrel, waitForPort } from './lib/service-process.js';
import { Swarm } from './lib/swarm.js';
import { spawn } from 'node:child_process';

const devicesWanted = Number(process.env['BENCH_DEVICES'] ?? 19_000);
const clientProcs = Number(process.env['BENCH_CLIENT_PROCS'] ?? 4);
// One heartbeat period: every device PINGs exactly once in it, whatever its phase.
const hbWindowSec = Number(process.env['BENCH_HB_WINDOW_S'] ?? 30);
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 256);
/** Whole measurements to repeat; every reported figure is the median over them. */
const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const petrelClient = (process.env['BENCH_PETREL_CLIENT'] ?? 'sdk') as 'sdk' | 'raw';
if (petrelClient !== 'sdk' && petrelClient !== 'raw') throw new Error(`BENCH_PETREL_CLIENT: ${String(petrelClient)} is not sdk or raw`);
const HEARTBEAT_SEC = 30;
const GATEWAY_PORT = 15223;
const DISPATCH_PORT = 7391;
const OPS_PORT = 15290;
const FLOOR_PORT = 15224;
const PEER_PORT = 15226;
type Peer = 'mosquitto' | 'aedes';
/** BENCH_PEERS: MQTT brokers measured with the same fleet (comma-separated; `none` for none). */
const peers = (process.env['BENCH_PEERS'] ?? 'mosquitto,aedes').split(',').map((p) => p.trim()).filter((p) => p !== '' && p !== 'none');
for (const p of peers) if (p !== 'mosquitto' && p !== 'aedes') throw new Error(`BENCH_PEERS: ${p} is not mosquitto or aedes`);

type ServerFigures = MemoryFigures & { connected: number; heartbeatCpuPercent: number; cpuMicrosPerConnect: number };

/**
 * What a server other than Petrel costs for the same fleet, connected at the gateway
 * fleet's measured pace (so heartbeats arrive with the same bunching: bunched pings are
 * cheaper per ping, fewer event-loop wake-ups): memory by quarters, CPU per connect, and
 * CPU while every client heartbeats once. `collect` runs a full GC where there is one.
 */
async function measureServer(pid: number, collect: () => Promise<unknown>, plan: { mode: 'tcp' | 'mqtt'; port: number; topics?: string[] }, count: number, connectsPerSecond: number): Promise<ServerFigures> {
  const swarm = await Swarm.start(clientProcs);
  const sizes = quarter(Array.from({ length: count }), 0).length;
  let connectCpu = 0;
  const memory = await measureMemory([pid], collect, async (q) => {
    const cpu0 = cpuSeconds(pid);
    const n = Math.max(0, Math.min(sizes, count - q * sizes));
    const { connected } = await swarm.connect({ ...plan, concurrency, heartbeatSec: HEARTBEAT_SEC, ratePerSecond: connectsPerSecond / clientProcs, clientIdPrefix: `q${q}-` }, [], n);
    connectCpu += cpuSeconds(pid) - cpu0;
    return connected;
  });
  const cpu0 = cpuSeconds(pid);
  await sleep(hbWindowSec * 1000);
  const heartbeatCpuPercent = ((cpuSeconds(pid) - cpu0) / hbWindowSec) * 100;
  await swarm.stop();
  return { ...memory, heartbeatCpuPercent, cpuMicrosPerConnect: (connectCpu * 1e6) / memory.connected };
}

const gcOn = (port: number) => () => fetch(`http://127.0.0.1:${port}/`, { method: 'POST' });

/** The floor: a bare node:net server (bench/peers/bare-tcp-server.ts) holding the same sockets. */
async function measureFloor(count: number, connectsPerSecond: number): Promise<ServerFigures> {
  const { file, execArgv } = moduleCommand('bench/peers/bare-tcp-server');
  const child = spawn(process.execPath, ['--expose-gc', ...execArgv, file], { env: { ...process.env, PORT: String(FLOOR_PORT) }, stdio: 'inherit' });
  await waitForPort(FLOOR_PORT, child);
  await sleep(1000);
  const figures = await measureServer(child.pid!, gcOn(FLOOR_PORT + 1), { mode: 'tcp', port: FLOOR_PORT }, count, connectsPerSecond);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return figures;
}

/**
 * An MQTT broker holding the same fleet as clean-session QoS 1 subscribers of a topic of
 * their own (what a device reachable by unicast is in MQTT), PINGREQ every 30 s (keepalive).
 * MQTT has no device authentication to match HELLO's: the peers accept anonymous clients.
 */
async function measurePeer(name: Peer, count: number, connectsPerSecond: number): Promise<ServerFigures> {
  const broker = name === 'mosquitto'
    ? await startMosquitto(ensureMosquitto((t) => process.stdout.write(`idle-connections: ${t}\n`)), PEER_PORT, join(tmpdir(), `petrel-idle-mosquitto-${process.pid}`))
    : await startAedes(PEER_PORT, ['--expose-gc']);
  await sleep(1000);
  // mosquitto has no garbage collector to run first.
  const collect = name === 'aedes' ? gcOn(PEER_PORT + 1) : () => Promise.resolve();
  try {
    return await measureServer(broker.pid, collect, { mode: 'mqtt', port: PEER_PORT, topics: ['idle/{client}'] }, count, connectsPerSecond);
  } finally {
    await broker.stop();
  }
}

async function runOnce() {
  process.stdout.write(`idle-connections: provisioning ${devicesWanted} devices…\n`);
  const tenant = await provisionTenant('idle', devicesWanted);

  // A gateway reports every session to the dispatch tier, as in any deployment: the
  // dispatcher's work per connect (route, inbox check) is part of what a connect costs.
  process.stdout.write('idle-connections: starting a dispatcher and the gateway…\n');
  const dispatcher = await startPetrel('dispatcher', {
    PETREL_REDIS_URL: process.env['PETREL_BENCH_REDIS_URL']!,
    PETREL_REDIS_KEY_PREFIX: tenant.keys.prefix,
    PETREL_DISPATCH_PORT: String(DISPATCH_PORT),
  }, DISPATCH_PORT);
  const gateway = await startPetrel('gateway', {
    PETREL_REDIS_URL: process.env['PETREL_BENCH_REDIS_URL']!,
    PETREL_REDIS_KEY_PREFIX: tenant.keys.prefix,
    PETREL_DEVICE_KEY: tenant.deviceKey.toString('base64'),
    PETREL_GATEWAY_HOST: '0.0.0.0',
    PETREL_GATEWAY_PORT: String(GATEWAY_PORT),
    PETREL_OPS_PORT: String(OPS_PORT),
  }, GATEWAY_PORT, ['--expose-gc', ...(process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(' ').filter(Boolean)]);
  const metricsUrl = `http://127.0.0.1:${OPS_PORT}/metrics`;
  const collect = () => fetch(`http://127.0.0.1:${OPS_PORT}/debug/gc`, { method: 'POST' });
  await sleep(2000);

  const swarm = await Swarm.start(clientProcs);
  process.stdout.write(`idle-connections: connecting ${devicesWanted} devices from ${clientProcs} processes…\n`);
  let gatewayConnectCpu = 0;
  let swarmConnectCpu = 0;
  const memory = await measureMemory([gateway.pid], collect, async (q) => {
    const gw0 = cpuSeconds(gateway.pid);
    const sw0 = swarm.cpuSeconds();
    const devices = quarter(tenant.devices, q);
    const result = await swarm.connect({ mode: petrelClient, port: GATEWAY_PORT, concurrency, heartbeatSec: HEARTBEAT_SEC }, devices);
    gatewayConnectCpu += cpuSeconds(gateway.pid) - gw0;
    swarmConnectCpu += swarm.cpuSeconds() - sw0;
    return result.connected;
  });
  const connect = { connected: memory.connected, failed: devicesWanted - memory.connected, perSecond: memory.connected / memory.seconds, seconds: memory.seconds };
  const sessions = await scrape(metricsUrl, 'petrel_gateway_sessions_total');

  process.stdout.write(`idle-connections: heartbeat window ${hbWindowSec} s…\n`);
  const cpu0 = cpuSeconds(gateway.pid);
  const pings0 = await scrape(metricsUrl, 'petrel_gateway_frames_in_total{type="PING"}');
  await sleep(hbWindowSec * 1000);
  const cpu1 = cpuSeconds(gateway.pid);
  const pings1 = await scrape(metricsUrl, 'petrel_gateway_frames_in_total{type="PING"}');
  const open = await scrape(metricsUrl, 'petrel_gateway_connections{state="authenticated"}');

  const gatewayRss = rssBytes(gateway.pid);
  await swarm.stop();
  await gateway.stop();
  await dispatcher.stop();
  await tenant.cleanup();

  process.stdout.write('idle-connections: measuring the bare node:net floor at the same pace…\n');
  const floor = await measureFloor(devicesWanted, connect.perSecond);
  const peerFigures: Partial<Record<Peer, ServerFigures>> = {};
  for (const peer of peers as Peer[]) {
    process.stdout.write(`idle-connections: measuring ${peer} with the same fleet at the same pace…\n`);
    peerFigures[peer] = await measurePeer(peer, devicesWanted, connect.perSecond);
  }
  // Flat numeric fields (medians are taken per field over the runs).
  const peerFields = Object.fromEntries(Object.entries(peerFigures).flatMap(([peer, f]) => [
    [`${peer}Connected`, f.connected],
    [`${peer}RssPerConnectionBytes`, Math.round(f.marginalBytes)],
    [`${peer}CpuMicrosPerConnect`, Math.round(f.cpuMicrosPerConnect)],
    [`${peer}HeartbeatCpuPercentOfOneCore`, Number(f.heartbeatCpuPercent.toFixed(2))],
  ])) as Record<string, number>;

  const hbCpuPercent = ((cpu1 - cpu0) / hbWindowSec) * 100;
  const pings = pings1 - pings0;
  return {
    devices: devicesWanted,
    connected: connect.connected,
    failed: connect.failed,
    sessionsAuthenticated: sessions,
    stillConnectedAfterWindow: open,
    rssPerConnectionBytes: Math.round(memory.marginalBytes),
    floorRssPerConnectionBytes: Math.round(floor.marginalBytes),
    ratioToFloor: Number((memory.marginalBytes / floor.marginalBytes).toFixed(2)),
    rssAveragePerConnectionBytes: Math.round(memory.averageBytes),
    floorRssAveragePerConnectionBytes: Math.round(floor.averageBytes),
    rssPerConnectionAfterBurstBytes: Math.round(memory.burstBytes),
    floorRssPerConnectionAfterBurstBytes: Math.round(floor.burstBytes),
    gatewayRssBytes: gatewayRss,
    connectsPerSecond: Math.round(connect.perSecond),
    connectSeconds: Number(connect.seconds.toFixed(2)),
    gatewayCpuMicrosPerConnect: Math.round((gatewayConnectCpu * 1e6) / connect.connected),
    // What one gateway process could admit on a core of its own: the load generator
    // shares this machine's two cores, so the measured rate is bounded by it too.
    gatewayConnectCapacityPerCore: Math.round(connect.connected / gatewayConnectCpu),
    // The bare server's CPU per accepted socket with a handshake-sized exchange, at the same pace.
    floorCpuMicrosPerConnect: Math.round(floor.cpuMicrosPerConnect),
    clientCpuMicrosPerConnect: Math.round((swarmConnectCpu * 1e6) / connect.connected),
    heartbeatSec: HEARTBEAT_SEC,
    heartbeatWindowSec: hbWindowSec,
    pingsInWindow: pings,
    gatewayCpuPercentOfOneCore: Number(hbCpuPercent.toFixed(2)),
    floorHeartbeatCpuPercentOfOneCore: Number(floor.heartbeatCpuPercent.toFixed(2)),
    heartbeatCpuRatioToFloor: Number((hbCpuPercent / floor.heartbeatCpuPercent).toFixed(2)),
    cpuMicrosPerPing: pings > 0 ? Number((((cpu1 - cpu0) * 1e6) / pings).toFixed(1)) : 0,
    clientProcesses: clientProcs,
    ...peerFields,
  };
}

type RunResult = Awaited<ReturnType<typeof runOnce>>;

async function main(): Promise<void> {
  const results: RunResult[] = [];
  for (let run = 1; run <= runs; run++) {
    if (runs > 1) process.stdout.write(`idle-connections: run ${run} of ${runs}\n`);
    results.push(await runOnce());
  }
  // Every figure is the median over the runs; the runs themselves are kept beside it.
  const m = Object.fromEntries(
    Object.keys(results[0]!).map((k) => [k, median(results.map((r) => Number(r[k as keyof RunResult])))]),
  ) as { [K in keyof RunResult]: number } & Record<string, number | undefined>;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
  report(petrelClient === 'sdk' ? 'idle-connections' : `idle-connections-${petrelClient}`, { runs, client: petrelClient, ...m, perRun: results }, [
    [`authenticated idle devices (median of ${runs} run${runs > 1 ? 's' : ''})`, `${m.connected}`],
    ['RSS per connection (marginal, after GC)', kb(m.rssPerConnectionBytes), '≤ 2.5 KB'],
    ['  bare node:net floor, same method', kb(m.floorRssPerConnectionBytes)],
    ['  ratio to floor', `${m.ratioToFloor.toFixed(2)}×`],
    ...peers.map((p): [string, string] => [`  ${p} (MQTT, same fleet and method)`, kb(m[`${p}RssPerConnectionBytes`] ?? NaN)]),
    ['RSS per connection (average, after GC)', kb(m.rssAveragePerConnectionBytes)],
    ['  bare floor, same method', kb(m.floorRssAveragePerConnectionBytes)],
    ['RSS per connection (average, right after burst)', kb(m.rssPerConnectionAfterBurstBytes)],
    ['  bare floor, same method', kb(m.floorRssPerConnectionAfterBurstBytes)],
    ['authenticated connects/s (measured)', `${Math.round(m.connectsPerSecond)}`, '≥ 5,000'],
    ['gateway CPU per connect', `${Math.round(m.gatewayCpuMicrosPerConnect)} µs`],
    ['  bare node:net floor, same pace', `${Math.round(m.floorCpuMicrosPerConnect)} µs`],
    ...peers.map((p): [string, string] => [`  ${p} (MQTT CONNECT + SUBSCRIBE, no auth)`, `${Math.round(m[`${p}CpuMicrosPerConnect`] ?? NaN)} µs`]),
    ['  gateway capacity on one core', `${Math.round(m.gatewayConnectCapacityPerCore)} connects/s`, '≥ 5,000'],
    ['client CPU per connect', `${Math.round(m.clientCpuMicrosPerConnect)} µs`],
    [`heartbeat CPU (hb ${HEARTBEAT_SEC} s)`, `${m.gatewayCpuPercentOfOneCore.toFixed(2)} % of a core`, '< 2 %'],
    ['  bare node:net echo floor', `${m.floorHeartbeatCpuPercentOfOneCore.toFixed(2)} % of a core`],
    ['  ratio to floor', `${m.heartbeatCpuRatioToFloor.toFixed(2)}×`],
    ...peers.map((p): [string, string] => [`  ${p} (PINGREQ every 30 s)`, `${(m[`${p}HeartbeatCpuPercentOfOneCore`] ?? NaN).toFixed(2)} % of a core`]),
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(`idle-connections failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
