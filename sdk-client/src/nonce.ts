import { randomFillSync } from 'node:crypto';

/** Random bytes per HELLO nonce: 16 bytes = 22 base64url chars (protocol minimum is 16). */
export const NONCE_BYTES = 16;

/** Nonces drawn per refill of the pool. */
const NONCES_PER_REFILL = 256;

/**
 * HELLO nonces, cut from a pool of CSPRNG bytes refilled 4 KiB at a time. Each
 * randomBytes() call costs an OpenSSL round trip plus a getpid() syscall (its fork check);
 * a process connecting thousands of devices pays that once per 256 connects instead.
 * Every byte is used once; a nonce is public (it travels in HELLO), so bytes waiting in
 * the pool are no secret either. The pool is per module instance, hence per thread.
 */
export class NoncePool {
  private readonly pool = Buffer.allocUnsafeSlow(NONCE_BYTES * NONCES_PER_REFILL);
  private offset = this.pool.length;

  next(): string {
    if (this.offset === this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const start = this.offset;
    this.offset = start + NONCE_BYTES;
    return this.pool.toString('base64url', start, this.offset);
  }
}

const shared = new NoncePool();

/** A fresh HELLO nonce (22 base64url characters). */
export function helloNonce(): string {
  return shared.next();
}
