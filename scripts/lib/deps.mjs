// Installs what a fresh clone is missing: npm dependencies and a redis-server binary.

import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { PetrelError, say } from './log.mjs';

/** npm itself: the one running us under `npm run`, else the one on PATH. */
function npmCommand(args) {
  const cli = process.env.npm_execpath;
  if (cli && /^npm-cli\.[cm]?js$/.test(basename(cli))) return [process.execPath, [cli, ...args]];
  return ['npm', args];
}

/** Why node_modules must be (re)installed, or null if it matches package-lock.json. */
function npmInstallReason(root) {
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(join(root, 'node_modules'))) return 'node_modules is missing';
  if (!existsSync(installed)) return 'node_modules/.package-lock.json is missing';
  if (statSync(join(root, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs) {
    return 'package-lock.json is newer than node_modules';
  }
  return null;
}

/** npm's warnings about our own ~/.npmrc keys are noise here. */
function withoutConfigWarnings(output) {
  return output
    .split('\n')
    .filter((line) => !/Unknown (user|project|global|env) config/.test(line))
    .join('\n');
}

export async function ensureNpmDependencies(session) {
  const reason = npmInstallReason(session.root);
  if (reason === null) return;
  say(`installing npm dependencies (${reason})…`);
  const flags = ['--no-audit', '--no-fund'];
  const ci = await session.run(...npmCommand(['ci', ...flags]), { capture: true });
  if (ci.code === 0) {
    process.stderr.write(withoutConfigWarnings(ci.output));
    return;
  }
  // `npm ci` refuses a lock file that does not list every platform's optional package
  // (a registry mirror that lacks, say, the macOS builds of a native addon produces
  // such a lock). `npm install --no-save` installs the same locked versions and leaves
  // package-lock.json untouched; any other npm ci failure is real.
  const outOfSync = /EUSAGE/.test(ci.output) && /in sync/.test(ci.output);
  if (!outOfSync) {
    process.stderr.write(withoutConfigWarnings(ci.output));
    throw new PetrelError(`npm ci failed (${ci.code}); see npm's output above`);
  }
  const missing = ci.output.match(/^npm error Missing: .*$/gm) ?? [];
  say(
    `npm ci says package-lock.json is out of sync with package.json` +
      (missing.length > 0 ? ` (${missing.length} entries missing, e.g. ${missing[0].replace('npm error Missing: ', '')})` : '') +
      `; installing the locked versions with npm install --no-save instead`,
  );
  const install = await session.run(...npmCommand(['install', '--no-save', ...flags]), { capture: true });
  process.stderr.write(withoutConfigWarnings(install.output));
  if (install.code !== 0) throw new PetrelError(`npm install failed (${install.code}); see npm's output above`);
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name) {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  // sbin is often missing from a non-root PATH; Debian puts redis-server in /usr/bin.
  for (const dir of [...dirs, '/usr/local/bin', '/usr/bin', '/usr/sbin']) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function findRedisServer() {
  const override = process.env.PETREL_REDIS_BIN;
  if (override) {
    if (!isExecutable(override)) throw new PetrelError(`PETREL_REDIS_BIN=${override} is not an executable file`);
    return override;
  }
  return findOnPath('redis-server');
}

/** Path of a redis-server binary, installing Debian's package when we can. */
export async function ensureRedisServer(session) {
  return (
    findRedisServer() ??
    (await installDebianPackage(session, 'redis-server', findRedisServer, 'Install Redis 6 or newer (Debian/Ubuntu: sudo apt-get install redis-server; ' +
      'macOS: brew install redis) or set PETREL_REDIS_BIN to a redis-server binary'))
  );
}

/** Path of strace (the fault tests watch Redis's fsyncs with it), installing Debian's package when we can. */
export async function ensureStrace(session) {
  const find = () => findOnPath('strace');
  return find() ?? (await installDebianPackage(session, 'strace', find, 'Install strace (Debian/Ubuntu: sudo apt-get install strace)'));
}

/**
 * Installs a Debian package with apt-get when we are root on Linux, and returns what
 * `find` then finds; otherwise fails with `howTo`, telling the user the one step to take.
 */
async function installDebianPackage(session, pkg, find, howTo) {
  const isRoot = process.getuid?.() === 0;
  if (process.platform !== 'linux' || !isRoot || findOnPath('apt-get') === null) {
    throw new PetrelError(`${pkg} not found. ${howTo}, then run this again`);
  }
  say(`${pkg} not found; installing the Debian package (apt-get update && apt-get install -y ${pkg})…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another install (unattended upgrades, a second checkout's first run) may hold dpkg's
  // lock: wait for it rather than fail a fresh machine's first command.
  const wait = ['-o', 'DPkg::Lock::Timeout=300'];
  for (const args of [[...wait, '-q', 'update'], [...wait, '-q', 'install', '-y', pkg]]) {
    const result = await session.run('apt-get', args, { env });
    if (result.code !== 0) throw new PetrelError(`apt-get ${args.slice(3).join(' ')} failed (${result.code})`);
  }
  const installed = find();
  if (installed === null) throw new PetrelError(`apt-get installed ${pkg} but it was not found afterwards`);
  return installed;
}

/** Runs the TypeScript compiler from node_modules (no npx: it would print its own noise). */
export async function runTsc(session, args, what) {
  say(`${what}…`);
  const tsc = join(session.root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await session.run(process.execPath, [tsc, ...args]);
  if (result.code !== 0) throw new PetrelError(`${what} failed (tsc ${args.join(' ')})`, result.code ?? 1);
}
