#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { createRedis } from '../store/redis.js';
import { apiWorker, isApiWorker, runApiPrimary } from './api-cluster.js';
import { appsCommand, appsUsage, UsageError } from './apps-cli.js';
import { ensureDemoApp, resolveAdminToken, resolveDeviceKey } from './local-state.js';
import { createRuntime, type Runtime } from './runtime.js';
import { startDispatcher, startGateway, startHttp } from './tiers.js';

/**
 * Process entry point: `petrel <all|gateway|api>`. Each tier runs alone (one process per
 * tier, scaled independently) or together in the all-in-one mode that `npm start` uses.
 * Only this file exits the process.
 */
const usage = `usage: petrel <all|gateway|dispatcher|api> [--config file.json]
       petrel apps <list|create|show|…>   manage apps and their credentials (petrel apps --help)

  all         every tier in one process (npm start); creates a demo app on first start
  gateway     device connection tier (TCP 5223 by default; Thrift GatewayService)
  dispatcher  send workers (BullMQ) and the Thrift DispatchService gateways report to
  api         HTTP API tier (8080 by default)

Configuration: JSON file (--config or PETREL_CONFIG), then PETREL_* environment variables.`;

async function main(): Promise<void> {
  if (process.argv[2] === 'apps') return apps(process.argv.slice(3));
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  const mode = positionals[0];
  if (values.help || !mode || !['all', 'gateway', 'dispatcher', 'api'].includes(mode)) {
    process.stdout.write(usage + '\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const config = loadConfig({ file: values.config });
  const workers = config.http.workers;
  // `petrel all` keeps its tiers in one process (its API hands messages to the dispatcher
  // beside it); gateways and dispatchers have no API to spread.
  if (workers > 1 && mode === 'all') throw new Error(`http.workers (PETREL_HTTP_WORKERS) is ${workers}: only \`petrel api\` runs several processes; \`petrel all\` serves from one`);
  if (workers > 1 && mode === 'api' && !isApiWorker()) {
    const lines = await runApiPrimary(workers, config.http, createLogger({ level: config.log.level, name: 'petrel-api-primary' }));
    lines.splice(-1, 0, `  workers     ${workers} API processes share the port (http.workers)`);
    return printBanner(mode, lines);
  }
  const rt = createRuntime(config, `petrel-${mode}`);
  const stop = installShutdown(rt);
  const worker = isApiWorker() ? apiWorker(rt.metrics.registry, () => stop('primary')) : null;

  const show = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
  const lines: string[] = [];
  // Started API first and gateway last: shutdown runs in reverse, so devices are drained
  // (and their last reports handled) while the dispatcher and API are still up.
  let httpPort = 0;
  if (mode === 'all' || mode === 'api') {
    const adminToken = resolveAdminToken(config, mode === 'all');
    const port = (httpPort = await startHttp(rt, 'http', { adminToken, ...(worker ? { metrics: worker.metrics } : {}) }));
    const scheme = config.http.tls ? 'https' : 'http';
    lines.push(`  http        ${scheme}://${show(config.http.host)}:${port}   API (POST /v1/messages), /console (campaigns), /docs, /openapi.json, /healthz, /readyz, /metrics`);
    if (adminToken) lines.push(`  admin       ${scheme}://${show(config.http.host)}:${port}/v1/admin   apps and credentials (Bearer admin token)`);
  }
  if (mode === 'all' || mode === 'dispatcher') {
    const dispatcher = await startDispatcher(rt);
    lines.push(`  dispatcher  thrift://${config.dispatch.host}:${dispatcher.rpcPort}   DispatchService (${dispatcher.id})`);
  }
  if (mode === 'all' || mode === 'gateway') {
    const gateway = await startGateway(rt, resolveDeviceKey(config, mode === 'all'));
    lines.push(`  gateway     tcp://${show(config.gateway.host)}:${gateway.port}   devices (wire protocol v1${config.gateway.tls ? ', TLS' : ''})`);
  }
  if (mode !== 'all' && mode !== 'api' && config.ops.port > 0) {
    const port = await startHttp(rt, 'ops');
    lines.push(`  ops         http://${show(config.ops.host)}:${port}   /healthz, /readyz, /metrics`);
  }
  lines.push(`  redis       ${config.redis.url.replace(/\/\/[^@]*@/, '//***@')}`);
  if (mode === 'all') {
    const demo = await ensureDemoApp(rt);
    lines.push(
      '',
      `  demo app  appId=${demo.appId}`,
      `            clientKey=${demo.clientKey}`,
      `            serverSecret=${demo.serverSecret}`,
      `            (saved in ${config.dataDir}/demo-app.json)`,
      // A token from the environment is an operator's secret: not echoed.
      `  admin     ${config.admin.token ? 'token from PETREL_ADMIN_TOKEN' : `token=${resolveAdminToken(config, false)} (saved in ${config.dataDir}/admin-token)`}`,
      '',
      '  Try a device:  npm run demo:device',
      '  Send to it:    curl http://127.0.0.1:' + httpPort + '/v1/messages -H "Authorization: Bearer ' + demo.serverSecret + '" \\',
      `                   -H 'content-type: application/json' -d '{"to":{"devices":["<device id>"]},"notification":{"title":"Hi","body":"there"}}'`,
    );
  }
  if (worker) return worker.announce(lines);
  printBanner(mode, lines);
}

/** Where each tier listens; tests and scripts wait for its last line. */
function printBanner(mode: string, lines: readonly string[]): void {
  process.stdout.write(`\nPetrel (${mode}) is running\n${lines.join('\n')}\n\nCtrl-C stops.\n\n`);
}

/** `petrel apps …`: one admin command against Redis, JSON on stdout. */
async function apps(argv: string[]): Promise<void> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(appsUsage + '\n');
    process.exitCode = argv.length === 0 ? 2 : 0;
    return;
  }
  const { values } = parseArgs({ args: argv, strict: false, options: { config: { type: 'string' } } });
  const config = loadConfig({ file: typeof values.config === 'string' ? values.config : undefined });
  // Fail fast: an operator at a terminal wants "Redis is down", not a hang.
  const redis = createRedis(config.redis.url, createLogger({ level: 'silent', name: 'petrel-apps' }), { maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    const result = await appsCommand(argv, config, redis);
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stdout.write(appsUsage + '\n');
    process.exitCode = 2;
  } finally {
    redis.disconnect();
  }
}

/**
 * Stops the runtime on SIGINT/SIGTERM (a second signal exits at once). Returns the stop
 * for an API worker's primary to call. Only the process's own signals count towards the
 * second one: Ctrl-C in a terminal (or a service manager stopping the process group)
 * signals the workers as well as the primary, whose stop may arrive before or after the
 * worker's own signal.
 */
function installShutdown(rt: Runtime): (signal: string) => void {
  let stopping = false;
  let signals = 0;
  const stop = (signal: string) => {
    if (signal !== 'primary' && ++signals > 1) {
      rt.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    if (stopping) return;
    stopping = true;
    rt.log.info({ signal }, 'shutting down');
    rt.close().then(
      () => process.exit(0),
      (err: unknown) => {
        rt.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return stop;
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  const details = (err as { details?: unknown }).details;
  process.stderr.write(`petrel: ${e.code ? `[${e.code}] ` : ''}${e.message}${details ? ` ${JSON.stringify(details)}` : ''}\n`);
  process.exit(1);
});
