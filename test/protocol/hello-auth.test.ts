import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MIN_NONCE_LENGTH, WireCodec, helloSignatureMatches, parseClientFrame, signHello } from '../../src/protocol/index.js';

/** The signature as the contract defines it, computed without the code under test. */
function reference(secret: string, app: string, dev: string, ts: number, nonce: string): string {
  const message = Buffer.from([app, dev, String(ts), nonce].join('\n'), 'utf8');
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(message).digest().toString('hex');
}

describe('signHello', () => {
  test('matches vectors computed with `openssl dgst -sha256 -hmac`', () => {
    // printf 'demo\ndev_Zm9vYmFy\n1700000000000\n0123456789abcdef' | openssl dgst -sha256 -hmac 'correct horse battery staple'
    assert.equal(
      signHello('correct horse battery staple', 'demo', 'dev_Zm9vYmFy', 1_700_000_000_000, '0123456789abcdef'),
      '428c111c01982b056f77354f1a7fb14f5e290feb304f56c20f965b6b3586bcbc',
    );
    // Non-ASCII everywhere is UTF-8 encoded; ts 0 is written "0".
    assert.equal(signHello('sécret', 'äpp', '😀dev', 0, 'nonce-nonce-nonce'), '82e2596e909385dbb915ca334eb18539e8080186ba370ea90354460fcc502881');
  });

  test('the worked example of docs/protocol.md', () => {
    const example = { secret: 'q3Jx9vT1bLmZ0rW8kP2sYd4hNfGa6cUe', app: 'weather', dev: 'Xk3v9QmR7tLp2WcZ8yBn4A', ts: 1_735_689_600_000, nonce: 'c1f0e2d3b4a59687' };
    const sig = signHello(example.secret, example.app, example.dev, example.ts, example.nonce);
    assert.equal(sig, 'c9468b028342438a4aedd8b2e0cb9bdb21943fbc929a103a6e44c47fa4b0e152');
    const hello = { t: 3, v: 1, app: example.app, dev: example.dev, ts: example.ts, nonce: example.nonce, sig, hb: 240 } as const;
    const wire = new WireCodec().encode(hello);
    assert.equal(
      wire.toString('hex'),
      '0000009c88a17403a17601a3617070a777656174686572a3646576b6586b337639516d5237744c703257635a3879426e3441' +
        'a27473cb427941f297c00000a56e6f6e6365b063316630653264336234613539363837a3736967d940' +
        Buffer.from(sig).toString('hex') + 'a26862ccf0',
    );
    assert.deepStrictEqual(parseClientFrame(new WireCodec().decodeBody(wire.subarray(4))), hello);
  });

  test('is lowercase hex of 32 bytes', () => {
    const sig = signHello('s', 'a', 'd', 1, 'n');
    assert.match(sig, /^[0-9a-f]{64}$/);
  });

  test('equals HMAC-SHA256(secret, app\\ndev\\nts\\nnonce) for arbitrary inputs', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }),
        fc.maxSafeInteger(), fc.string({ unit: 'binary' }),
        (secret, app, dev, ts, nonce) => {
          const sig = signHello(secret, app, dev, ts, nonce);
          assert.equal(sig, reference(secret, app, dev, ts, nonce));
          assert.equal(helloSignatureMatches(secret, app, dev, ts, nonce, sig), true);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('every input and the separator matter', () => {
    const base = signHello('secret', 'app', 'dev', 1000, 'nonce');
    assert.notEqual(signHello('secreT', 'app', 'dev', 1000, 'nonce'), base);
    assert.notEqual(signHello('secret', 'apq', 'dev', 1000, 'nonce'), base);
    assert.notEqual(signHello('secret', 'app', 'dew', 1000, 'nonce'), base);
    assert.notEqual(signHello('secret', 'app', 'dev', 1001, 'nonce'), base);
    assert.notEqual(signHello('secret', 'app', 'dev', 1000, 'noncf'), base);
    // Moving a character across a field boundary changes the signature.
    assert.notEqual(signHello('secret', 'ap', 'pdev', 1000, 'nonce'), base);
  });
});

describe('helloSignatureMatches', () => {
  const args = ['secret', 'demo', 'dev1', 1_700_000_000_000, '0123456789abcdef'] as const;
  const good = signHello(...args);

  test('accepts the exact signature', () => {
    assert.equal(helloSignatureMatches(...args, good), true);
  });

  test('rejects a signature with any single character changed', () => {
    for (let i = 0; i < good.length; i++) {
      const flipped = good.slice(0, i) + (good[i] === '0' ? '1' : '0') + good.slice(i + 1);
      assert.equal(helloSignatureMatches(...args, flipped), false, `position ${i}`);
    }
  });

  test('rejects wrong lengths without throwing', () => {
    for (const sig of ['', good.slice(0, 1), good.slice(0, 63), good + '0', good + good, good.slice(0, 32)]) {
      assert.equal(helloSignatureMatches(...args, sig), false, `length ${sig.length}`);
    }
  });

  test('rejects uppercase hex (the contract says lowercase)', () => {
    assert.notEqual(good.toUpperCase(), good);
    assert.equal(helloSignatureMatches(...args, good.toUpperCase()), false);
  });

  test('rejects strings whose characters only share the low byte of the signature', () => {
    // Under a latin1 comparison '\u0161' would have equalled 'a' (0x61).
    const aliased = [...good].map((ch) => String.fromCharCode(ch.charCodeAt(0) + 0x100)).join('');
    assert.equal(aliased.length, 64);
    assert.equal(helloSignatureMatches(...args, aliased), false);
    const oneAliased = String.fromCharCode(good.charCodeAt(0) + 0x100) + good.slice(1);
    assert.equal(helloSignatureMatches(...args, oneAliased), false);
    // 32 two-byte UTF-8 characters make 64 bytes: still no match.
    assert.equal(helloSignatureMatches(...args, 'é'.repeat(32)), false);
  });

  test('rejects a valid signature for other inputs', () => {
    assert.equal(helloSignatureMatches('other', 'demo', 'dev1', 1_700_000_000_000, '0123456789abcdef', good), false);
    assert.equal(helloSignatureMatches('secret', 'demo', 'dev2', 1_700_000_000_000, '0123456789abcdef', good), false);
    assert.equal(helloSignatureMatches('secret', 'demo', 'dev1', 1_700_000_000_001, '0123456789abcdef', good), false);
    assert.equal(helloSignatureMatches('secret', 'demo', 'dev1', 1_700_000_000_000, '0123456789abcdeF', good), false);
  });

  test('random strings never match', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (sig) => {
        fc.pre(sig !== good);
        assert.equal(helloSignatureMatches(...args, sig), false);
      }),
      { numRuns: 300 },
    );
  });

  test('the minimum nonce length is 16', () => {
    assert.equal(MIN_NONCE_LENGTH, 16);
  });
});
