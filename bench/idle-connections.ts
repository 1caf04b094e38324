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
 *      BENCH_CONCURRENCY (per client process, 256).
 */
import { cpuSeconds, rssBytes, sleep } from './lib/proc.js';
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
const HEARTBEAT_SEC = 30;
const GATEWAY_PORT = 15223;
const OPS_PORT = 15290;
const FLOOR_PORT = 15224;

/** RSS per socket of a bare node:net server, right after the burst and after a full GC. */
async function measureFloor(count: number): Promise<{ burstBytes: number; steadyBytes: number; heartbeatCpuPercent: number }> {
  const { file, execArgv } = moduleCommand('bench/peers/bare-tcp-server');
  const child = spawn(process.execPath, ['--expose-gc', ...execArgv, file], { env: { ...process.env, PORT: String(FLOOR_PORT) }, stdio: 'inherit' });
  await waitForPort(FLOOR_PORT, child);
  const collect = () => fetch(`http://127.0.0.1:${FLOOR_PORT + 1}/`, { method: 'POST' });
  await sleep(1000);
  await collect();
  const before = rssBytes(child.pid!);
  const swarm = await Swarm.start(clientProcs);
  const result = await swarm.connect({ mode: 'tcp', port: FLOOR_PORT, concurrency, heartbeatSec: HEARTBEAT_SEC }, [], count);
  await sleep(5000);
  const burst = rssBytes(child.pid!);
  await collect();
  await sleep(1000);
  const steady = rssBytes(child.pid!);
  const cpu0 = cpuSeconds(child.pid!);
  await sleep(hbWindowSec * 1000);
  const heartbeatCpuPercent = ((cpuSeconds(child.pid!) - cpu0) / hbWindowSec) * 100;
  await swarm.stop();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { burstBytes: (burst - before) / result.connected, steadyBytes: (steady - before) / result.connected, heartbeatCpuPercent };
}

async function main(): Promise<void> {
  process.stdout.write(`idle-connections: provisioning ${devicesWanted} devices…\n`);
  const tenant = await provisionTenant('idle', devicesWanted);

  process.stdout.write('idle-connections: measuring the bare node:net floor…\n');
  const floor = await measureFloor(devicesWanted);

  process.stdout.write('idle-connections: starting the gateway…\n');
  const gateway = await startPetrel('gateway', {
    PETREL_REDIS_URL: process.env['PETREL_BENCH_REDIS_URL']!,
    PETREL_REDIS_KEY_PREFIX: tenant.keys.prefix,
    PETREL_DEVICE_KEY: tenant.deviceKey.toString('base64'),
    PETREL_GATEWAY_HOST: '0.0.0.0',
    PETREL_GATEWAY_PORT: String(GATEWAY_PORT),
    PETREL_OPS_PORT: String(OPS_PORT),
  }, GATEWAY_PORT, ['--expose-gc', ...(process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(' ').filter(Boolean)]);
  const metricsUrl = `http://127.0.0.1:${OPS_PORT}/metrics`;
  const collect = async () => (await (await fetch(`http://127.0.0.1:${OPS_PORT}/debug/gc`, { method: 'POST' })).json()) as { heapUsed: number };
  await sleep(2000);
  const heap0 = (await collect()).heapUsed;
  const rss0 = rssBytes(gateway.pid);

  const swarm = await Swarm.start(clientProcs);
  process.stdout.write(`idle-connections: connecting ${devicesWanted} devices from ${clientProcs} processes…\n`);
  const gwCpuBeforeConnect = cpuSeconds(gateway.pid);
  const swarmCpuBeforeConnect = swarm.cpuSeconds();
  const connect = await swarm.connect({ mode: 'sdk', port: GATEWAY_PORT, concurrency, heartbeatSec: HEARTBEAT_SEC }, tenant.devices);
  const gatewayConnectCpu = cpuSeconds(gateway.pid) - gwCpuBeforeConnect;
  const swarmConnectCpu = swarm.cpuSeconds() - swarmCpuBeforeConnect;
  const sessions = await scrape(metricsUrl, 'petrel_gateway_sessions_total');
  await sleep(5000);
  const rssBurst = rssBytes(gateway.pid);
  const heap1 = (await collect()).heapUsed;
  await sleep(1000);
  const rss1 = rssBytes(gateway.pid);

  process.stdout.write(`idle-connections: heartbeat window ${hbWindowSec} s…\n`);
  const cpu0 = cpuSeconds(gateway.pid);
  const pings0 = await scrape(metricsUrl, 'petrel_gateway_frames_in_total{type="PING"}');
  await sleep(hbWindowSec * 1000);
  const cpu1 = cpuSeconds(gateway.pid);
  const pings1 = await scrape(metricsUrl, 'petrel_gateway_frames_in_total{type="PING"}');
  const open = await scrape(metricsUrl, 'petrel_gateway_connections{state="authenticated"}');

  await swarm.stop();
  await gateway.stop();
  await tenant.cleanup();

  const perConn = (rss1 - rss0) / connect.connected;
  const perConnBurst = (rssBurst - rss0) / connect.connected;
  const heapPerConn = (heap1 - heap0) / connect.connected;
  const hbCpuPercent = ((cpu1 - cpu0) / hbWindowSec) * 100;
  const pings = pings1 - pings0;
  report(
    'idle-connections',
    {
      devices: devicesWanted,
      connected: connect.connected,
      failed: connect.failed,
      sessionsAuthenticated: sessions,
      stillConnectedAfterWindow: open,
      rssPerConnectionBytes: Math.round(perConn),
      heapPerConnectionBytes: Math.round(heapPerConn),
      floorRssPerConnectionBytes: Math.round(floor.steadyBytes),
      ratioToFloor: Number((perConn / floor.steadyBytes).toFixed(2)),
      rssPerConnectionAfterBurstBytes: Math.round(perConnBurst),
      floorRssPerConnectionAfterBurstBytes: Math.round(floor.burstBytes),
      gatewayRssBytes: rss1,
      connectsPerSecond: Math.round(connect.perSecond),
      connectSeconds: Number(connect.seconds.toFixed(2)),
      gatewayCpuMicrosPerConnect: Math.round((gatewayConnectCpu * 1e6) / connect.connected),
      clientCpuMicrosPerConnect: Math.round((swarmConnectCpu * 1e6) / connect.connected),
      heartbeatSec: HEARTBEAT_SEC,
      heartbeatWindowSec: hbWindowSec,
      pingsInWindow: pings,
      gatewayCpuPercentOfOneCore: Number(hbCpuPercent.toFixed(2)),
      floorHeartbeatCpuPercentOfOneCore: Number(floor.heartbeatCpuPercent.toFixed(2)),
      heartbeatCpuRatioToFloor: Number((hbCpuPercent / floor.heartbeatCpuPercent).toFixed(2)),
      cpuMicrosPerPing: pings > 0 ? Number((((cpu1 - cpu0) * 1e6) / pings).toFixed(1)) : null,
      clientProcesses: clientProcs,
    },
    [
      ['authenticated idle devices', `${connect.connected}`],
      ['RSS per connection (after GC)', `${(perConn / 1024).toFixed(2)} KB`, '≤ 2.5 KB'],
      ['  bare node:net floor (after GC)', `${(floor.steadyBytes / 1024).toFixed(2)} KB`],
      ['  ratio to floor', `${(perConn / floor.steadyBytes).toFixed(2)}×`],
      ['RSS per connection (right after burst)', `${(perConnBurst / 1024).toFixed(2)} KB`],
      ['  bare floor (right after burst)', `${(floor.burstBytes / 1024).toFixed(2)} KB`],
      ['live heap per connection', `${(heapPerConn / 1024).toFixed(2)} KB`],
      ['authenticated connects/s', `${Math.round(connect.perSecond)}`, '≥ 5,000'],
      ['gateway CPU per connect', `${Math.round((gatewayConnectCpu * 1e6) / connect.connected)} µs`],
      ['client CPU per connect', `${Math.round((swarmConnectCpu * 1e6) / connect.connected)} µs`],
      [`heartbeat CPU (hb ${HEARTBEAT_SEC} s)`, `${hbCpuPercent.toFixed(2)} % of a core`, '< 2 %'],
      ['  bare node:net echo floor', `${floor.heartbeatCpuPercent.toFixed(2)} % of a core`],
      ['  ratio to floor', `${(hbCpuPercent / floor.heartbeatCpuPercent).toFixed(2)}×`],
    ],
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`idle-connections failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
