// `npm start`: install, build, start a private Redis, run the whole service
// (`petrel all`) in the foreground, and stop both in order.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureNpmDependencies, ensureRedisServer, runTsc } from './deps.mjs';
import { PetrelError, say } from './log.mjs';
import {
  describeExit,
  exited,
  holdInstanceLock,
  portFromEnv,
  removePidFile,
  statusOf,
  stopStaleProcess,
  terminate,
  writePidFile,
} from './process.mjs';
import { startPrivateRedis } from './redis.mjs';

const ENTRY = 'dist/src/cmd/petrel.js';
const DEFAULT_REDIS_PORT = 6391;
/** Time the service gets to close connections and flush after SIGTERM. */
const SERVICE_STOP_TIMEOUT_MS = 20_000;

/** Shows a Redis URL without its password. */
function safeUrl(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** Extra arguments (`npm start -- --flag`) go to the service after `all`. */
export async function start(session, args) {
  const stateDir = join(session.root, '.petrel');
  mkdirSync(stateDir, { recursive: true });
  holdInstanceLock(session, join(stateDir, 'start.pid'), '`npm start`');
  await ensureNpmDependencies(session);

  // PETREL_REDIS_URL set: the user runs Redis; we start none.
  const externalRedis = process.env.PETREL_REDIS_URL || null;
  const redisPort = portFromEnv('PETREL_REDIS_PORT', DEFAULT_REDIS_PORT);
  const redisBin = externalRedis === null ? await ensureRedisServer(session) : null;

  const servicePidFile = join(stateDir, 'service.pid');
  await stopStaleProcess(servicePidFile, {
    name: 'service',
    isOurs: ({ cmdline, cwd }) => cmdline.includes(ENTRY) && cwd === session.root,
    timeoutMs: SERVICE_STOP_TIMEOUT_MS,
  });

  await runTsc(session, ['-p', 'tsconfig.build.json'], 'building (tsc -p tsconfig.build.json)');
  if (!existsSync(join(session.root, ENTRY))) {
    throw new PetrelError(`${ENTRY} is missing after the build; the service entry point is src/cmd/petrel.ts`);
  }

  let redis = null;
  let redisUrl = externalRedis;
  if (externalRedis === null) {
    redis = await startPrivateRedis(session, {
      bin: redisBin,
      port: redisPort,
      dir: join(stateDir, 'redis'),
      portEnv: 'PETREL_REDIS_PORT',
    });
    redisUrl = redis.url;
  } else {
    say(`using the Redis at ${safeUrl(externalRedis)} (PETREL_REDIS_URL); not starting one`);
  }
  session.throwIfStopped();

  const env = {
    // The local default admits a load test of 20,000 devices registering from this
    // machine's loopback (one address); production keeps the per-address default (600/min).
    PETREL_REGISTRATIONS_PER_MINUTE: '100000',
    ...process.env,
    PETREL_REDIS_URL: redisUrl,
    PETREL_DATA_DIR: stateDir,
  };
  // Own process group: Ctrl-C reaches only the launcher, which sends the service one
  // SIGTERM and stops Redis only after the service has exited.
  const service = spawn(process.execPath, [ENTRY, 'all', ...args], {
    cwd: session.root,
    env,
    stdio: 'inherit',
    detached: true,
  });
  session.track(service);
  const serviceExit = exited(service);
  serviceExit.catch(() => {});
  if (service.pid !== undefined) {
    writePidFile(servicePidFile, service.pid);
    session.defer(() => removePidFile(servicePidFile, service.pid));
  }
  say(`service running (pid ${service.pid}): node ${ENTRY} all${args.length ? ` ${args.join(' ')}` : ''}; Ctrl-C stops it`);

  const never = new Promise(() => {});
  const outcome = await Promise.race([
    serviceExit.then(
      (result) => ({ who: 'service', result }),
      (error) => ({ who: 'service', error }),
    ),
    redis === null ? never : exited(redis.child).then((result) => ({ who: 'redis', result })),
    session.stopRequested.then((signal) => ({ who: 'signal', signal })),
  ]);

  if (outcome.who === 'signal') {
    say(`${outcome.signal}: stopping the service…`);
    const result = await terminate(service, { name: 'service', timeoutMs: SERVICE_STOP_TIMEOUT_MS });
    say(`service stopped (${describeExit(result)})`);
    // The exit we asked for is a success, whether the service handled SIGTERM itself
    // or let it end the process.
    return result.code === 0 || result.signal === 'SIGTERM' ? 0 : statusOf(result);
  }
  if (outcome.who === 'service') {
    if (outcome.error) throw new PetrelError(`could not start the service: ${outcome.error.message}`);
    say(`service exited unexpectedly (${describeExit(outcome.result)}); stopping redis`);
    return statusOf(outcome.result) || 1;
  }
  say(`redis exited unexpectedly (${describeExit(outcome.result)}; see ${relative(session.root, redis.logFile)}); stopping the service`);
  await terminate(service, { name: 'service', timeoutMs: SERVICE_STOP_TIMEOUT_MS });
  return 1;
}
