// A private redis-server for one launcher run: its own port and data directory,
// never the system service. It runs in its own process group so that Ctrl-C reaches
// the launcher, which stops the service first and Redis last.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PetrelError, say } from './log.mjs';
import { describeExit, exited, stopStaleProcess, terminate } from './process.mjs';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/**
 * Sends one PING and returns the first reply line (`+PONG`, `-LOADING …`, `-NOAUTH …`),
 * or null if nothing answered within `timeoutMs`.
 */
export function ping(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const finish = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(null));
    socket.on('error', () => finish(null));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.setEncoding('utf8').on('data', (chunk) => {
      reply += chunk;
      const end = reply.indexOf('\r\n');
      if (end >= 0) finish(reply.slice(0, end));
    });
  });
}

/** Resolves true if nothing listens on HOST:port (we can bind it ourselves). */
function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the kernel says is free right now (another process may still take it first). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function logTail(logFile, lines = 15) {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function redisArgs({ port, dir }) {
  return [
    '--port', String(port),
    '--bind', HOST,
    // Bound to loopback only; protected mode would otherwise refuse clients when a
    // redis.conf default differs, and there is no password on a private dev server.
    '--protected-mode', 'no',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--save', '',
    '--daemonize', 'no',
    // Redis writes this once listening and removes it on a clean shutdown, so a file
    // still present at our next start names a Redis whose launcher died.
    '--pidfile', join(dir, 'redis.pid'),
  ];
}

class PortTaken extends Error {}

async function launch(session, { bin, port, dir }) {
  const logFile = join(dir, 'redis.log');
  // Redis logs to stdout when no logfile is set; sending stdout and stderr to one file
  // also keeps start-up errors that happen before logging is configured.
  const logFd = openSync(logFile, 'a');
  const child = spawn(bin, redisArgs({ port, dir }), { cwd: dir, detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  session.track(child, { killOnSecondSignal: false });
  let status = null;
  exited(child).then(
    (result) => (status = result),
    (error) => (status = { error }),
  );
  for (let waited = 0; ; waited += 100) {
    if (status !== null) {
      if (status.error) throw new PetrelError(`could not start ${bin}: ${status.error.message}`);
      const tail = logTail(logFile);
      if (/Address already in use/i.test(tail)) throw new PortTaken();
      throw new PetrelError(`redis-server exited during start-up (${describeExit(status)}); end of ${logFile}:\n${tail}`);
    }
    if (session.stopSignal !== null || waited >= READY_TIMEOUT_MS) {
      await terminate(child, { name: 'redis-server', timeoutMs: STOP_TIMEOUT_MS });
      session.throwIfStopped();
      throw new PetrelError(`redis-server did not answer PING within ${READY_TIMEOUT_MS / 1000}s; see ${logFile}`);
    }
    // -LOADING means it is still replaying the AOF: keep waiting.
    if ((await ping(port, 500)) === '+PONG') return { child, logFile };
    await delay(100);
  }
}

/**
 * Starts a private Redis with its data in `dir` and returns
 * `{ url, port, dir, child, logFile, stop() }`; the session stops it when it closes.
 * `port` 0 picks a free port. `wipe` deletes `dir` first (test runs start empty).
 * `portEnv` names the variable that chooses the port, for the "port busy" message.
 */
export async function startPrivateRedis(session, { bin, port, dir, wipe = false, portEnv }) {
  mkdirSync(dir, { recursive: true });
  await stopStaleProcess(join(dir, 'redis.pid'), {
    name: 'redis-server',
    // Redis sets its process title to `<argv[0]> <host>:<port>`; it runs in `dir`.
    isOurs: ({ cmdline, cwd }) => /(^|\/)redis-server\b/.test(cmdline) && cwd === dir,
  });
  if (wipe) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const shownDir = relative(session.root, dir) || '.';
  for (let attempt = 1; ; attempt++) {
    const chosen = port === 0 ? await freePort() : port;
    if (port !== 0 && !(await portIsFree(chosen))) {
      const reply = await ping(chosen, 500);
      const what = reply === null ? 'another process' : 'another Redis (not one started from this checkout)';
      throw new PetrelError(
        `port ${HOST}:${chosen} is already in use by ${what}; stop it or choose another port with ${portEnv}=<port>`,
      );
    }
    let started;
    try {
      started = await launch(session, { bin, port: chosen, dir });
    } catch (error) {
      // A free port picked at random can be taken between our check and Redis's bind.
      if (error instanceof PortTaken && port === 0 && attempt < 3) continue;
      if (error instanceof PortTaken) {
        throw new PetrelError(`port ${HOST}:${chosen} is already in use; choose another port with ${portEnv}=<port>`);
      }
      throw error;
    }
    const { child, logFile } = started;
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      say('stopping redis…');
      // SIGTERM makes Redis fsync the AOF and exit cleanly.
      const result = await terminate(child, { name: 'redis-server', timeoutMs: STOP_TIMEOUT_MS });
      if (result.code !== 0) say(`redis exited with ${describeExit(result)}; see ${relative(session.root, logFile)}`);
    };
    session.defer(stop);
    say(`redis on ${HOST}:${chosen} (data ${shownDir}, pid ${child.pid})`);
    return { url: `redis://${HOST}:${chosen}`, port: chosen, dir, child, logFile, stop };
  }
}
