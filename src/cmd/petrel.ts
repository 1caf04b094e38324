#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ensureDemoApp, resolveDeviceKey } from './local-state.js';
import { createRuntime, type Runtime } from './runtime.js';
import { startDispatcher, startGateway, startHttp } from './tiers.js';

/**
 * Process entry point: `petrel <all|gateway|api>`. Each tier runs alone (one process per
 * tier, scaled independently) or together in the all-in-one mode that `npm start` uses.
 * Only this file exits the process.
 */
const usage = `usage: petrel <all|gateway|dispatcher|api> [--config file.json]

  all         every tier in one process (npm start); creates a demo app on first start
  gateway     device connection tier (TCP 5223 by default; Thrift GatewayService)
  dispatcher  send workers (BullMQ) and the Thrift DispatchService gateways report to
  api         HTTP API tier (8080 by default)

Configuration: JSON file (--config or PETREL_CONFIG), then PETREL_* environment variables.`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  const mode = positionals[0];
  if (values.help || !mode || !['all', 'gateway', 'dispatcher', 'api'].includes(mode)) {
    process.stdout.write(usage + '\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const config = loadConfig({ file: values.config });
  const rt = createRuntime(config, `petrel-${mode}`);
  installShutdown(rt);

  const show = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
  const lines: string[] = [];
  // Started API first and gateway last: shutdown runs in reverse, so devices are drained
  // (and their last reports handled) while the dispatcher and API are still up.
  let httpPort = 0;
  if (mode === 'all' || mode === 'api') {
    const port = (httpPort = await startHttp(rt));
    lines.push(`  http        http://${show(config.http.host)}:${port}   API (POST /v1/messages), /healthz, /readyz, /metrics`);
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
      '',
      '  Try a device:  npm run demo:device',
      '  Send to it:    curl http://127.0.0.1:' + httpPort + '/v1/messages -H "Authorization: Bearer ' + demo.serverSecret + '" \\',
      `                   -H 'content-type: application/json' -d '{"to":{"devices":["<device id>"]},"notification":{"title":"Hi","body":"there"}}'`,
    );
  }
  process.stdout.write(`\nPetrel (${mode}) is running\n${lines.join('\n')}\n\nCtrl-C stops.\n\n`);
}

function installShutdown(rt: Runtime): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      rt.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
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
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  process.stderr.write(`petrel: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
  process.exit(1);
});
