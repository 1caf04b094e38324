import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const committed = join(root, 'src', 'rpc', 'gen');

/** Every file under `dir` by its path relative to `dir`, with its text. */
function filesOf(dir: string, prefix = '', files = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const name = join(prefix, entry.name);
    if (entry.isDirectory()) filesOf(dir, name, files);
    else files.set(name, readFileSync(join(dir, name), 'utf8'));
  }
  return files;
}

describe('generated Thrift code', () => {
  const scratch = mkdtempSync(join(process.env.PETREL_TEST_TMPDIR ?? tmpdir(), 'petrel-gen-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('src/rpc/gen is exactly what idl/*.thrift produces', async () => {
    const out = join(scratch, 'gen');
    await promisify(execFile)(process.execPath, [join(root, 'scripts', 'gen-thrift.mjs'), '--out', out], { cwd: root });
    const fresh = filesOf(out);
    const current = filesOf(committed);
    const hint = 'src/rpc/gen is out of date with idl/*.thrift (or was edited by hand): run `npm run gen` and commit the result';
    assert.deepEqual([...current.keys()].sort(), [...fresh.keys()].sort(), hint);
    for (const [name, text] of fresh) {
      assert.ok(current.get(name) === text, `${hint} (${name} differs)`);
    }
  });
});
