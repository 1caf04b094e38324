import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from './proc.js';

/**
 * Path and node arguments to run a module of ours as its own process: the compiled file
 * when the bench runs from dist/, the TypeScript source through tsx otherwise.
 */
export function moduleCommand(fromRoot: string): { file: string; execArgv: string[] } {
  const js = fileURLToPath(new URL(`../../${fromRoot}.js`, import.meta.url));
  if (existsSync(js)) return { file: js, execArgv: [] };
  return { file: fileURLToPath(new URL(`../../${fromRoot}.ts`, import.meta.url)), execArgv: ['--import', 'tsx'] };
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `petrel <mode>` as a child process and waits until `port` accepts connections.
 * Its log (stdout, warnings and worse) goes to `logFile` when given, else nowhere.
 */
export async function startPetrel(mode: string, env: Record<string, string>, port: number, nodeArgs: string[] = [], logFile?: string): Promise<ServiceProcess> {
  const { file, execArgv } = moduleCommand('src/cmd/petrel');
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(process.execPath, [...nodeArgs, ...execArgv, file, mode], {
    env: { ...process.env, PETREL_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', out, 'inherit'],
  });
  if (typeof out === 'number') closeSync(out);
  await waitForPort(port, child);
  return {
    child,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export async function waitForPort(port: number, child?: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port}`);
    await sleep(100);
  }
}

/** Reads one sample value from a Prometheus text endpoint. */
export async function scrape(url: string, metric: string): Promise<number> {
  return metricValue(await (await fetch(url)).text(), metric);
}

/**
 * One sample value of a Prometheus text exposition: `metric` as written with its labels
 * (`petrel_gateway_connections{state="authenticated"}`), or a bare name, whose series are summed.
 */
export function metricValue(text: string, metric: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(metric + ' ') || line.startsWith(metric + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
