// Child processes of the launcher: running steps in the foreground, supervising
// long-lived children (Redis, the service), stopping them in order, and recognising
// processes left behind by an earlier launcher that was killed.

import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Interrupted, PetrelError, say, signalExitCode } from './log.mjs';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * A second Ctrl-C closer than this to the first is the same keypress delivered twice
 * (the terminal signals the whole process group and npm forwards it again), not a
 * user asking to stop harder.
 */
const DUPLICATE_SIGNAL_MS = 1000;

const exitPromises = new WeakMap();

/** Resolves with `{ code, signal }` once `child` has exited; rejects if it could not start. */
export function exited(child) {
  let promise = exitPromises.get(child);
  if (promise === undefined) {
    promise = new Promise((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve({ code: child.exitCode, signal: child.signalCode });
        return;
      }
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', reject);
    });
    exitPromises.set(child, promise);
  }
  return promise;
}

/** The exit status a shell would report for a child's `{ code, signal }`. */
export function statusOf({ code, signal }) {
  return code ?? signalExitCode(signal ?? 'SIGTERM');
}

export function describeExit({ code, signal }) {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/**
 * One launcher run: tracks its children, turns the first SIGINT/SIGTERM/SIGHUP into a
 * stop request, and runs cleanups in reverse order of registration at the end.
 */
export class Session {
  /** The first stop signal received, or null. */
  stopSignal = null;
  /** Resolves with the signal name when a stop is requested. */
  stopRequested;

  #resolveStop;
  #firstSignalAt = 0;
  #children = new Set();
  #cleanups = [];

  constructor(root) {
    this.root = root;
    this.stopRequested = new Promise((resolve) => {
      this.#resolveStop = resolve;
    });
    for (const signal of STOP_SIGNALS) process.on(signal, () => this.#onSignal(signal));
    // Last resort if the launcher itself crashes: never leave Redis or the service
    // running without a supervisor. SIGTERM lets Redis write its AOF before exiting.
    process.on('exit', () => {
      for (const { child } of this.#children) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }
    });
  }

  #onSignal(signal) {
    const now = Date.now();
    if (this.stopSignal === null) {
      this.stopSignal = signal;
      this.#firstSignalAt = now;
      this.#resolveStop(signal);
      for (const entry of this.#children) if (entry.forwardSignals) entry.child.kill(signal);
      return;
    }
    if (now - this.#firstSignalAt < DUPLICATE_SIGNAL_MS) return;
    say(`${signal} again: killing child processes now`);
    for (const entry of this.#children) if (entry.killOnSecondSignal) entry.child.kill('SIGKILL');
  }

  throwIfStopped() {
    if (this.stopSignal !== null) throw new Interrupted(this.stopSignal);
  }

  /**
   * Registers a child. `forwardSignals`: it receives the stop signal we receive (steps
   * such as npm, tsc, the test runner). `killOnSecondSignal`: a second Ctrl-C kills it
   * outright (not Redis, whose clean shutdown is quick and keeps the AOF whole).
   */
  track(child, { forwardSignals = false, killOnSecondSignal = true } = {}) {
    const entry = { child, forwardSignals, killOnSecondSignal };
    this.#children.add(entry);
    exited(child).then(
      () => this.#children.delete(entry),
      () => this.#children.delete(entry),
    );
    return child;
  }

  /** Registers `fn` to run when the session closes; cleanups run last-in first-out. */
  defer(fn) {
    this.#cleanups.push(fn);
  }

  async close() {
    while (this.#cleanups.length > 0) {
      const fn = this.#cleanups.pop();
      try {
        await fn();
      } catch (error) {
        say(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /**
   * Runs one step in the foreground and returns its `{ code, signal, output }`.
   * With `capture`, stdout and stderr are collected into `output` instead of shown.
   * Throws Interrupted if a stop was requested before or while it ran.
   */
  async run(command, args, { env = process.env, capture = false, stdin = 'ignore' } = {}) {
    this.throwIfStopped();
    const stdio = [stdin, capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'];
    const child = spawn(command, args, { cwd: this.root, env, stdio });
    let output = '';
    if (capture) {
      child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    }
    this.track(child, { forwardSignals: true });
    let result;
    try {
      result = await exited(child);
    } catch (error) {
      throw new PetrelError(`could not run ${command}: ${error.message}`);
    }
    this.throwIfStopped();
    return { ...result, output };
  }
}

/**
 * Sends `signal` to `child`, waits up to `timeoutMs` for it to exit, then SIGKILLs it.
 * Returns its exit `{ code, signal }`.
 */
export async function terminate(child, { name, signal = 'SIGTERM', timeoutMs }) {
  const done = exited(child);
  if (child.exitCode !== null || child.signalCode !== null) return done;
  child.kill(signal);
  const result = await Promise.race([done, delay(timeoutMs).then(() => null)]);
  if (result !== null) return result;
  say(`${name} did not exit ${timeoutMs / 1000}s after ${signal}; sending SIGKILL`);
  child.kill('SIGKILL');
  return done;
}

/**
 * What we can learn about a live process: `{ cmdline, cwd }` (null fields where /proc
 * is not available), or null if no such process is running.
 */
export function describeProcess(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code !== 'EPERM') return null;
  }
  let cmdline = null;
  let cwd = null;
  try {
    // A zombie (exited, not yet reaped by whoever adopted it) still answers kill(pid, 0).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return null;
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    // No /proc (macOS) or no permission: the caller decides without details.
  }
  return { cmdline, cwd };
}

export function readPidFile(file) {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function writePidFile(file, pid) {
  writeFileSync(file, `${pid}\n`);
}

/** Removes `file` only if it still names `pid` (a newer run may have replaced it). */
export function removePidFile(file, pid) {
  if (readPidFile(file) === pid) rmSync(file, { force: true });
}

/**
 * Stops a process left running by an earlier launcher that died without cleaning up.
 * `isOurs({ cmdline, cwd })` must recognise it, so a recycled pid is never killed.
 */
export async function stopStaleProcess(pidFile, { name, isOurs, timeoutMs = 10_000 }) {
  const pid = readPidFile(pidFile);
  if (pid === null) return;
  const info = describeProcess(pid);
  if (info === null) {
    rmSync(pidFile, { force: true });
    return;
  }
  if (info.cmdline === null) {
    throw new PetrelError(
      `${pidFile} names pid ${pid}, which may be a ${name} left by an earlier run; stop it or delete the file`,
    );
  }
  if (!isOurs(info)) {
    rmSync(pidFile, { force: true });
    return;
  }
  say(`stopping stale ${name} (pid ${pid}) left by an earlier run`);
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; describeProcess(pid) !== null; waited += 100) {
    if (waited >= timeoutMs) {
      process.kill(pid, 'SIGKILL');
      await delay(200);
      break;
    }
    await delay(100);
  }
  rmSync(pidFile, { force: true });
}

/**
 * Refuses to run twice from one checkout in the same mode (two `npm test` runs would
 * wipe each other's Redis), and records our pid until the session closes.
 */
export function holdInstanceLock(session, file, what) {
  const pid = readPidFile(file);
  if (pid !== null && pid !== process.pid) {
    const info = describeProcess(pid);
    if (info !== null && (info.cmdline === null || info.cmdline.includes('petrel.mjs'))) {
      throw new PetrelError(`${what} is already running from this checkout (pid ${pid}); stop it first`);
    }
  }
  writePidFile(file, process.pid);
  session.defer(() => removePidFile(file, process.pid));
}

/** A port number from the environment variable `name`, or `fallback` when unset. */
export function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PetrelError(`${name}=${raw} is not a port number`);
  return port;
}
