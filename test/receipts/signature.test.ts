import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { signReceipt, verifyReceipt } from '../../src/domain/receipt-signature.js';
import { bucketStart } from '../../src/store/stats-store.js';

describe('receipt signature', () => {
  const body = '{"events":[{"type":"delivered","messageId":"m","deviceId":"d","at":1}]}';
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);

  it('is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.body)>, as README tells receivers', () => {
    const header = signReceipt('k', body, now);
    const t = now / 1000;
    assert.equal(header, `t=${t},v1=${createHmac('sha256', 'k').update(`${t}.${body}`).digest('hex')}`);
  });

  it('verifies within the tolerance only, with the right key and body', () => {
    const header = signReceipt('k', body, now);
    assert.ok(verifyReceipt('k', body, header, now + 299_000));
    assert.ok(!verifyReceipt('k', body, header, now + 301_000), 'too old');
    assert.ok(!verifyReceipt('other', body, header, now));
    assert.ok(!verifyReceipt('k', body.replace('delivered', 'opened'), header, now));
    assert.ok(!verifyReceipt('k', body, 'garbage', now));
    assert.ok(!verifyReceipt('k', body, header.replace(/v1=../, 'v1=00'), now));
  });
});

describe('stats buckets', () => {
  it('are UTC hours and days', () => {
    const at = Date.parse('2026-11-23T16:42:10.123Z');
    assert.equal(new Date(bucketStart('hour', at)).toISOString(), '2026-11-23T16:00:00.000Z');
    assert.equal(new Date(bucketStart('day', at)).toISOString(), '2026-11-23T00:00:00.000Z');
  });
});
