import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/results/, whether we run from bench/ (tsx) or dist/bench/ (compiled). */
export function resultsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith('/bench') && dir !== '/') dir = dirname(dir);
  if (dir.endsWith('/dist/bench')) dir = join(dirname(dirname(dir)), 'bench');
  return join(dir, 'results');
}

export function machine(): Record<string, unknown> {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

/** Writes `<name>.json` under bench/results/ and prints the JSON and a short table. */
export function report(name: string, result: Record<string, unknown>, table: Array<[string, string, string?]>): void {
  const full = { bench: name, date: new Date().toISOString(), machine: machine(), ...result };
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(full, null, 2) + '\n');
  process.stdout.write(JSON.stringify(full) + '\n\n');
  const width = Math.max(...table.map(([k]) => k.length));
  const valueWidth = Math.max(...table.map(([, v]) => v.length));
  process.stdout.write(`${name}\n`);
  for (const [k, v, target] of table) {
    process.stdout.write(`  ${k.padEnd(width)}  ${v.padStart(valueWidth)}${target ? `   (target ${target})` : ''}\n`);
  }
  process.stdout.write(`\nwritten to ${join(dir, `${name}.json`)}\n`);
}
