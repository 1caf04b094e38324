#!/usr/bin/env node
// Petrel's launcher: `npm start`, `npm test` and `npm run bench` on a fresh clone.
// Plain JavaScript with Node built-ins only, because it runs before npm dependencies
// (and the TypeScript compiler) are installed.
//
//   node scripts/petrel.mjs start [service args…]   install, build, Redis, service
//   node scripts/petrel.mjs test [paths…] [--node-test-option=value…]
//   node scripts/petrel.mjs bench [name] [bench args…]
//   node scripts/petrel.mjs fuzz [paths…]            the fuzz tests at full size
//   node scripts/petrel.mjs faults [paths…]          the fault tests, written up in docs/reliability.md
//
// Environment: PETREL_REDIS_URL (start: use this Redis instead of a private one),
// PETREL_REDIS_PORT (start: private Redis port, default 6391), PETREL_TEST_REDIS_PORT
// and PETREL_BENCH_REDIS_PORT (default: a free port), PETREL_REDIS_BIN (redis-server
// to use instead of the one on PATH).

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench } from './lib/bench.mjs';
import { PetrelError, say } from './lib/log.mjs';
import { Session } from './lib/process.mjs';
import { start } from './lib/start.mjs';
import { faults, fuzz, test } from './lib/test.mjs';

const COMMANDS = { start, test, bench, fuzz, faults };
const USAGE = 'usage: node scripts/petrel.mjs start|test|bench|fuzz|faults [args…]';

async function main(argv) {
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    say(`Node ${process.versions.node} is too old; Petrel needs Node 20 or newer`);
    return 1;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  process.chdir(root);
  const session = new Session(root);
  try {
    return await command(session, args);
  } catch (error) {
    if (error instanceof PetrelError) {
      say(error.message);
      return error.exitCode;
    }
    throw error;
  } finally {
    await session.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
// Child processes are all gone by now; do not wait for stray handles.
process.exit();
