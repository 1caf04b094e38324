// Finding test files and benchmarks. Globs are expanded here rather than by
// `node --test`, whose glob support differs between Node 20 releases.

import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { PetrelError } from './log.mjs';

/** Repository-relative paths with forward slashes, as the user types them. */
function toPosix(path) {
  return path.split(sep).join('/');
}

function walk(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** All `test/**\/*.test.ts`, repository-relative and sorted. */
export function findTestFiles(root) {
  const testDir = join(root, 'test');
  if (!existsSync(testDir)) return [];
  return walk(testDir, [])
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => toPosix(relative(root, file)))
    .sort();
}

/**
 * Fault tests too heavy for every `npm test` (19,000-device storms, floods): they run in
 * `npm run test:faults`, or when named (`npm test -- test/faults/x.test.ts`).
 */
export const FAULTS_ONLY_DIR = 'test/faults';

/**
 * Splits `npm test -- …` arguments into options for node's test runner (`--x` or
 * `--x=value`) and path filters (a file or a directory), and returns the test files
 * that match any filter (all of them when there is none). Paths are taken relative
 * to the directory npm was started from.
 */
export function selectTestFiles(root, args) {
  const all = findTestFiles(root);
  const nodeOptions = args.filter((arg) => arg.startsWith('-'));
  const startDir = process.env.INIT_CWD ?? process.cwd();
  const filters = args
    .filter((arg) => !arg.startsWith('-'))
    .map((arg) => toPosix(relative(root, resolve(startDir, arg))).replace(/\/$/, ''));
  const files =
    filters.length === 0
      ? all.filter((file) => !file.startsWith(`${FAULTS_ONLY_DIR}/`))
      : all.filter((file) => filters.some((filter) => file === filter || file.startsWith(`${filter}/`) || filter === ''));
  if (files.length === 0) {
    throw new PetrelError(
      filters.length === 0
        ? 'no test files found (test/**/*.test.ts)'
        : `no test files under ${filters.join(', ')} (test files are test/**/*.test.ts)`,
    );
  }
  return { files, nodeOptions };
}

/** Benchmark names (bench/<name>.ts), sorted. */
export function findBenchmarks(root) {
  const benchDir = join(root, 'bench');
  if (!existsSync(benchDir)) return [];
  return readdirSync(benchDir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => entry.name.slice(0, -'.ts'.length))
    .sort();
}
