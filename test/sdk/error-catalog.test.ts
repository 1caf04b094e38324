import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { PetrelError, petrelErrorCatalog, type PetrelErrorCode } from '../../sdk-client/src/index.js';

describe('SDK error catalog', () => {
  it('is documented code for code in sdk-client/README.md', async () => {
    const readme = await readFile(new URL('../../sdk-client/README.md', import.meta.url), 'utf8');
    const documented = new Set([...readme.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
    for (const code of Object.keys(petrelErrorCatalog)) assert.ok(documented.has(code), `README is missing error code ${code}`);
  });

  it('builds errors with a stable code and the server code in err', () => {
    const err = new PetrelError('subscription_rejected', 'no', { err: 'topic_limit' });
    assert.equal(err.code satisfies PetrelErrorCode, 'subscription_rejected');
    assert.equal(err.err, 'topic_limit');
    assert.equal(err.name, 'PetrelError');
    assert.equal(new PetrelError('client_closed').message, petrelErrorCatalog.client_closed);
  });
});
