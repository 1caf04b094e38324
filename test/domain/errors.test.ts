import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { errorCatalog, PetrelError, type ErrorCode } from '../../src/domain/errors.js';
import { closeCodeInfo } from '../../src/protocol/index.js';

describe('error catalog', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (\d{4})? ?\|/gm)].map((m) => [m[1]!, { status: Number(m[2]), closeCode: m[3] ? Number(m[3]) : undefined }]),
  );

  it('docs/errors.md lists exactly the codes of the catalog, with the same status and close code', () => {
    assert.deepEqual([...rows.keys()].sort(), Object.keys(errorCatalog).sort());
    for (const [code, entry] of Object.entries(errorCatalog) as Array<[ErrorCode, { status: number; closeCode?: number }]>) {
      assert.deepEqual(rows.get(code), { status: entry.status, closeCode: entry.closeCode }, code);
    }
  });

  it('every close code in the catalog is a protocol close code', () => {
    for (const entry of Object.values(errorCatalog) as Array<{ closeCode?: number }>) {
      if (entry.closeCode !== undefined) assert.ok(Object.hasOwn(closeCodeInfo, entry.closeCode));
    }
  });

  it('PetrelError carries its catalog entry', () => {
    const err = new PetrelError('nonce_replayed');
    assert.equal(err.code, 'nonce_replayed');
    assert.equal(err.status, 401);
    assert.equal(err.closeCode, 4001);
    assert.equal(err.message, errorCatalog.nonce_replayed.message);
    assert.equal(new PetrelError('internal', 'custom').message, 'custom');
  });
});
