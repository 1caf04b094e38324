// `npm run bench [name]`: install, build, start a private Redis, and run each
// benchmark (bench/<name>.ts, compiled to dist/bench/<name>.js) in sorted order.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNpmDependencies, ensureRedisServer, runTsc } from './deps.mjs';
import { findBenchmarks } from './files.mjs';
import { PetrelError, say } from './log.mjs';
import { describeExit, holdInstanceLock, portFromEnv } from './process.mjs';
import { startPrivateRedis } from './redis.mjs';

/** `args`: an optional benchmark name, then arguments passed to each benchmark. */
export async function bench(session, args) {
  const [requested, ...benchArgs] = args;
  const stateDir = join(session.root, '.petrel');
  mkdirSync(stateDir, { recursive: true });
  holdInstanceLock(session, join(stateDir, 'bench.pid'), '`npm run bench`');

  const available = findBenchmarks(session.root);
  let selected = available;
  if (requested !== undefined) {
    const name = requested.replace(/^(\.\/)?bench\//, '').replace(/\.(ts|js)$/, '');
    if (!available.includes(name)) {
      throw new PetrelError(
        `no benchmark "${requested}" (bench/${name}.ts); available: ${available.join(', ') || 'none'}`,
      );
    }
    selected = [name];
  }

  await ensureNpmDependencies(session);
  const redisBin = selected.length > 0 ? await ensureRedisServer(session) : null;
  await runTsc(session, ['-p', 'tsconfig.build.json'], 'building (tsc -p tsconfig.build.json)');
  if (selected.length === 0) {
    say('no benchmarks yet (bench/<name>.ts); nothing to run');
    return 0;
  }

  const redis = await startPrivateRedis(session, {
    bin: redisBin,
    port: portFromEnv('PETREL_BENCH_REDIS_PORT', 0),
    dir: join(stateDir, 'bench-redis'),
    wipe: true,
    portEnv: 'PETREL_BENCH_REDIS_PORT',
  });
  const env = { ...process.env, PETREL_BENCH_REDIS_URL: redis.url };
  const failed = [];
  for (const name of selected) {
    say(`bench ${name}: node dist/bench/${name}.js${benchArgs.length ? ` ${benchArgs.join(' ')}` : ''}`);
    const result = await session.run(process.execPath, [join('dist', 'bench', `${name}.js`), ...benchArgs], { env });
    if (result.code !== 0) {
      say(`bench ${name} failed (${describeExit(result)})`);
      failed.push(name);
    }
  }
  if (failed.length > 0) {
    say(`${failed.length} of ${selected.length} benchmarks failed: ${failed.join(', ')}`);
    return 1;
  }
  return 0;
}
