// `npm test`: install, typecheck, start a private test Redis, run node's test runner
// over test/**/*.test.ts, stop Redis, and exit with the runner's status.

import { mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureNpmDependencies, ensureRedisServer, ensureStrace, runTsc } from './deps.mjs';
import { say } from './log.mjs';
import { holdInstanceLock, portFromEnv, statusOf } from './process.mjs';
import { FAULTS_ONLY_DIR, selectTestFiles } from './files.mjs';
import { startPrivateRedis } from './redis.mjs';

/**
 * Arguments: path filters (`npm test -- test/protocol`) and node test-runner options
 * written as `--name=value` (`npm test -- --test-name-pattern=codec`).
 */
export async function test(session, args) {
  const stateDir = join(session.root, '.petrel');
  mkdirSync(stateDir, { recursive: true });
  holdInstanceLock(session, join(stateDir, 'test.pid'), '`npm test`');
  await ensureNpmDependencies(session);
  const redisBin = await ensureRedisServer(session);
  const { files, nodeOptions } = selectTestFiles(session.root, args);

  await runTsc(session, ['-p', 'tsconfig.json', '--noEmit'], 'typechecking (tsc -p tsconfig.json --noEmit)');

  const redis = await startPrivateRedis(session, {
    bin: redisBin,
    // 0: a free port, so a test run never collides with `npm start` or another clone.
    port: portFromEnv('PETREL_TEST_REDIS_PORT', 0),
    dir: join(stateDir, 'test-redis'),
    wipe: true,
    portEnv: 'PETREL_TEST_REDIS_PORT',
  });
  // Scratch space for tests (extra Redis servers, files), wiped each run so that a
  // crashed run leaves nothing behind for long.
  const tmpDir = join(stateDir, 'test-tmp');
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });

  const shown = files.length === 1 ? files[0] : `${files.length} test files`;
  say(`running ${shown} (node --test, concurrency 2)…`);
  const result = await session.run(
    process.execPath,
    // A test that hangs (a child process left holding a pipe) fails after 5 minutes
    // instead of holding the whole run, and CI, for ever.
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...nodeOptions, ...files],
    {
      env: {
        ...process.env,
        PETREL_TEST_REDIS_URL: redis.url,
        PETREL_TEST_REDIS_BIN: redisBin,
        PETREL_TEST_TMPDIR: tmpDir,
      },
    },
  );
  const status = statusOf(result);
  if (redis.child.exitCode !== null || redis.child.signalCode !== null) {
    say(`the test Redis exited during the run; see ${relative(session.root, redis.logFile)}`);
    return status || 1;
  }
  return status;
}

/** The property-based tests of hostile input: wire frames and the HTTP API. */
const FUZZ_FILES = ['test/protocol/fuzz.test.ts', 'test/api/http-fuzz.test.ts'];
/**
 * The suite's frame properties run 7,000 cases together; this many times that is over a
 * million (issue #7), and the HTTP property 200 × this many requests.
 */
const FUZZ_SCALE = 143;

/**
 * `npm run fuzz`: the fuzz tests at full size (PETREL_FUZZ_SCALE, default FUZZ_SCALE),
 * with Redis provisioned as for `npm test`. Paths given replace the default files.
 */
export async function fuzz(session, args) {
  process.env.PETREL_FUZZ_SCALE ??= String(FUZZ_SCALE);
  say(`fuzzing at ${process.env.PETREL_FUZZ_SCALE}× the suite's cases`);
  return test(session, args.length > 0 ? args : FUZZ_FILES);
}

/** The fault tests: real processes, sockets and Redis, with faults injected (issue #7). */
const FAULT_FILES = ['test/e2e/send-faults.test.ts', 'test/e2e/campaign-faults.test.ts', 'test/e2e/network-faults.test.ts', 'test/e2e/tier-network-faults.test.ts', FAULTS_ONLY_DIR];

/**
 * `npm run test:faults`: the fault tests, printed as usual and written up as
 * docs/reliability.md (scripts/lib/reliability-reporter.mjs) from what each reports.
 */
export async function faults(session, args) {
  // test/faults/redis-fsync-window.test.ts runs Redis under strace to see its fsyncs.
  await ensureStrace(session);
  return test(session, [
    ...(args.length > 0 ? args : FAULT_FILES),
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/lib/reliability-reporter.mjs', '--test-reporter-destination=docs/reliability.md',
  ]);
}
