import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../../sdk-client/src/index.js';
import { planReconnect } from '../../sdk-client/src/connection-loop/reconnect-plan.js';

describe('Backoff (full jitter)', () => {
  it('doubles the ceiling per attempt from base, up to cap', () => {
    const b = new Backoff({ baseMs: 1_000, capMs: 300_000 });
    const ceilings: number[] = [];
    for (let i = 0; i < 12; i++) {
      ceilings.push(b.ceilingMs);
      b.next();
    }
    assert.deepEqual(ceilings, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
  });

  it('draws every delay from [0, ceiling)', () => {
    const low = new Backoff({ baseMs: 100, capMs: 1_000 }, () => 0);
    const high = new Backoff({ baseMs: 100, capMs: 1_000 }, () => 0.999999);
    for (let i = 0; i < 10; i++) {
      assert.equal(low.next(), 0);
      const ceiling = high.ceilingMs;
      const d = high.next();
      assert.ok(d < ceiling && d >= ceiling - 1, `delay ${d} vs ceiling ${ceiling}`);
    }
    const real = new Backoff({ baseMs: 50, capMs: 400 });
    for (let i = 0; i < 1_000; i++) {
      const ceiling = real.ceilingMs;
      const d = real.next();
      assert.ok(Number.isInteger(d) && d >= 0 && d < ceiling && ceiling <= 400);
    }
  });

  it('never overflows however many attempts fail', () => {
    const b = new Backoff({ baseMs: 1_000, capMs: 300_000 }, () => 0.5);
    for (let i = 0; i < 5_000; i++) b.next();
    assert.equal(b.next(), 150_000);
  });

  it('reset() starts again from base', () => {
    const b = new Backoff({ baseMs: 10, capMs: 1_000 });
    for (let i = 0; i < 6; i++) b.next();
    assert.equal(b.ceilingMs, 640);
    b.reset();
    assert.equal(b.attempts, 0);
    assert.equal(b.ceilingMs, 10);
  });
});

describe('planReconnect (close-code policy)', () => {
  const fixed = () => new Backoff({ baseMs: 100, capMs: 1_000 }, () => 0.5);

  it('backs off after a plain close and after backoff codes', () => {
    for (const code of [undefined, 1000, 4002, 4003, 4004, 4005, 4009, 4999]) {
      assert.deepEqual(planReconnect(code, undefined, undefined, fixed(), 100, () => 0.5), { kind: 'reconnect', delayMs: 50, reregister: false });
    }
  });

  it('stops on 4006 and 4010', () => {
    assert.deepEqual(planReconnect(4006, undefined, undefined, fixed(), 100), { kind: 'stop' });
    assert.deepEqual(planReconnect(4010, undefined, 500, fixed(), 100), { kind: 'stop' });
  });

  it('re-registers after a backoff delay on 4001', () => {
    assert.deepEqual(planReconnect(4001, undefined, undefined, fixed(), 100, () => 0.5), { kind: 'reconnect', delayMs: 50, reregister: true });
    assert.deepEqual(planReconnect(4001, 'auth_failed', undefined, fixed(), 100, () => 0.5), { kind: 'reconnect', delayMs: 50, reregister: true });
  });

  it('keeps the credentials on a 4001 that blames the clock or a nonce, not the device', () => {
    for (const reason of ['hello_stale', 'nonce_replayed']) {
      assert.deepEqual(planReconnect(4001, reason, undefined, fixed(), 100, () => 0.5), { kind: 'reconnect', delayMs: 50, reregister: false });
    }
  });

  it('honours the retry hint plus bounded jitter on 4007 and 4008', () => {
    assert.equal((planReconnect(4007, undefined, 2_000, fixed(), 100, () => 0) as { delayMs: number }).delayMs, 2_000);
    assert.equal((planReconnect(4008, undefined, 2_000, fixed(), 100, () => 0.5) as { delayMs: number }).delayMs, 3_000);
    // Jitter is capped at 5 s however long the hint.
    assert.equal((planReconnect(4007, undefined, 60_000, fixed(), 100, () => 0.999999) as { delayMs: number }).delayMs, 64_999);
    // retry 0 still gets up to baseMs of jitter, not a tight loop.
    assert.equal((planReconnect(4008, undefined, 0, fixed(), 100, () => 0.5) as { delayMs: number }).delayMs, 50);
    // No hint: ordinary backoff.
    assert.equal((planReconnect(4007, undefined, undefined, fixed(), 100, () => 0.5) as { delayMs: number }).delayMs, 50);
  });
});
