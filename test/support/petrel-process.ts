import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface PetrelProcess {
  child: ChildProcess;
  /** Everything the process printed on stdout so far. */
  output(): string;
  /** The first port printed after `<scheme>://host:` in the start banner. */
  port(scheme: 'tcp' | 'http'): number;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

const entry = fileURLToPath(new URL('../../src/cmd/petrel.ts', import.meta.url));

/**
 * Runs `petrel <mode>` as a real process (through tsx) and waits for its start banner.
 * `group`: in a process group of its own, so a test can signal it and its children
 * together (`process.kill(-pid, …)`), as a terminal's Ctrl-C does.
 */
export async function startPetrelProcess(mode: string, env: Record<string, string>, timeoutMs = 20_000, options: { group?: boolean } = {}): Promise<PetrelProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, mode], {
    env: { ...process.env, PETREL_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (!out.includes('Ctrl-C stops.')) {
    if (child.exitCode !== null) throw new Error(`petrel ${mode} exited with ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`petrel ${mode} printed no banner: ${out} ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    output: () => out,
    port(scheme) {
      const m = new RegExp(`${scheme}://[^:\\s]+:(\\d+)`).exec(out);
      if (!m) throw new Error(`no ${scheme} port in banner: ${out}`);
      return Number(m[1]);
    },
    exited,
  };
}
