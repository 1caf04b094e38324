// An extra private redis-server for fault tests that stop, crash or restart Redis
// under the code being tested. The shared test Redis (./redis.ts) must never be killed;
// this one has its own free port and data directory, with AOF on as in production.
//
//   const redis = await spawnRedis();
//   after(() => redis.destroy());
//   await redis.kill9();     // crash: no chance to flush
//   await redis.restart();   // same port and data; replays the AOF

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { childPids } from '../../bench/lib/proc.js';

const HOST = '127.0.0.1';

export interface SpawnRedisOptions {
  /** AOF fsync policy; `always` makes every acknowledged write survive kill9(). */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
  /** How long to wait for PONG after each start. */
  readonly startTimeoutMs?: number;
  /**
   * A command the first start runs redis-server under (`['strace', …]`), for tests that
   * watch what Redis does; restarts run redis-server alone. kill9() kills redis-server
   * itself, not the launcher.
   */
  readonly launcher?: readonly string[];
}

export interface SpawnedRedis {
  readonly url: string;
  readonly port: number;
  /** Data directory (AOF and log); kept across stop(), kill9() and restart(). */
  readonly dir: string;
  /** True while the server process is running. */
  readonly running: boolean;
  /** Clean shutdown: SIGTERM, Redis fsyncs the AOF and exits. */
  stop(): Promise<void>;
  /** Crash: SIGKILL, Redis gets no chance to flush. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and data; stops a running server cleanly first. */
  restart(): Promise<void>;
  /** Stops it if running and deletes its data directory. */
  destroy(): Promise<void>;
}

/** Servers still running when the test process exits are killed with it. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function redisBinary(): string {
  const bin = process.env['PETREL_TEST_REDIS_BIN'];
  return bin !== undefined && bin !== '' ? bin : 'redis-server';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The first reply line to PING, or null if nothing answered in time. */
function ping(port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const finish = (value: string | null): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(null));
    socket.on('error', () => finish(null));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      reply += chunk;
      const end = reply.indexOf('\r\n');
      if (end >= 0) finish(reply.slice(0, end));
    });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal` and waits for the exit; SIGKILL if it has not exited after 10 s. */
async function signalAndWait(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (hasExited(child)) return;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exit;
  clearTimeout(timer);
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

class PortTaken extends Error {}

async function startServer(dir: string, port: number, options: SpawnRedisOptions, launcher: readonly string[] = []): Promise<ChildProcess> {
  const logFile = join(dir, 'redis.log');
  const logFd = openSync(logFile, 'a');
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--protected-mode', 'no',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--save', '',
    '--daemonize', 'no',
  ];
  const [file, ...launcherArgs] = [...launcher, redisBinary()];
  const child = spawn(file!, [...launcherArgs, ...args], { cwd: dir, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const failure: { error: Error | null } = { error: null };
  child.once('error', (error) => (failure.error = error));
  live.add(child);
  child.once('exit', () => live.delete(child));
  killAllOnExit();

  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (failure.error !== null) {
      throw new Error(`could not run ${redisBinary()} (set PETREL_TEST_REDIS_BIN): ${failure.error.message}`);
    }
    if (hasExited(child)) {
      const tail = logTail(logFile);
      if (/Address already in use/i.test(tail)) throw new PortTaken(`port ${port} is taken`);
      throw new Error(`redis-server exited during start-up; end of ${logFile}:\n${tail}`);
    }
    if ((await ping(port, 500)) === '+PONG') return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms; see ${logFile}`);
    }
    await delay(50);
  }
}

/** Starts a redis-server on a free loopback port with a new data directory. */
export async function spawnRedis(options: SpawnRedisOptions = {}): Promise<SpawnedRedis> {
  const dir = await mkdtemp(join(process.env['PETREL_TEST_TMPDIR'] ?? tmpdir(), 'redis-'));
  let port = 0;
  let child: ChildProcess | null = null;
  for (let attempt = 1; child === null; attempt++) {
    port = await freePort();
    try {
      child = await startServer(dir, port, options, options.launcher);
    } catch (error) {
      // Another process may take the free port between our check and Redis's bind.
      if (!(error instanceof PortTaken) || attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  let current: ChildProcess | null = child;
  let launched = options.launcher !== undefined && options.launcher.length > 0;
  const serverPid = (): number => {
    if (current === null || current.pid === undefined) throw new Error('redis-server is not running');
    if (!launched) return current.pid;
    const children = childPids(current.pid);
    if (children.length !== 1) throw new Error(`expected one redis-server under the launcher, found ${children.length}`);
    return children[0]!;
  };
  const stopWith = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const running = current;
    if (running !== null && launched && !hasExited(running)) {
      // The signal goes to redis-server; the launcher exits after it.
      const exit = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      process.kill(serverPid(), signal);
      await exit;
    }
    current = null;
    launched = false;
    if (running !== null) await signalAndWait(running, signal);
  };

  return {
    url: `redis://${HOST}:${port}`,
    port,
    dir,
    get running() {
      return current !== null && !hasExited(current);
    },
    stop: () => stopWith('SIGTERM'),
    kill9: () => stopWith('SIGKILL'),
    async restart() {
      await stopWith('SIGTERM');
      current = await startServer(dir, port, options);
    },
    async destroy() {
      await stopWith('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
