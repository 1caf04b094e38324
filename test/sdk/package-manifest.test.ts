import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { SDK_VERSION } from '../../sdk-client/src/index.js';

const manifest = JSON.parse(await readFile(new URL('../../sdk-client/package.json', import.meta.url), 'utf8')) as {
  version: string;
  main: string;
  types: string;
  exports: { '.': { import: string; types: string } };
  dependencies: Record<string, string>;
};
const root = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };

describe('@petrel/sdk-client package.json', () => {
  it('reports its own version in HELLO sdk', () => {
    assert.equal(SDK_VERSION, manifest.version);
  });

  it('points main, types and exports at the tsc output layout (rootDir "..")', () => {
    assert.equal(manifest.main, './dist/sdk-client/src/index.js');
    assert.equal(manifest.exports['.'].import, manifest.main);
    assert.equal(manifest.types, './dist/sdk-client/src/index.d.ts');
    assert.equal(manifest.exports['.'].types, manifest.types);
  });

  it('depends on the same msgpackr range as the codec it compiles', () => {
    assert.equal(manifest.dependencies['msgpackr'], root.dependencies['msgpackr']);
  });
});
