import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HELLO signature (docs/protocol.md, frame 3): lowercase hex
 * HMAC-SHA256(deviceSecret, app + "\n" + dev + "\n" + ts + "\n" + nonce).
 * Shared by the SDK (to sign) and the gateway (to verify) so both build the same string.
 */
export function signHello(secret: string, app: string, dev: string, ts: number, nonce: string): string {
  return createHmac('sha256', secret).update(`${app}\n${dev}\n${ts}\n${nonce}`).digest('hex');
}

/**
 * Constant-time comparison of a presented signature with the expected one. The presented
 * string is encoded as UTF-8, not latin1: latin1 keeps only the low byte of each UTF-16
 * unit, so e.g. "\u0161" would have compared equal to "a" and a string that is not the
 * lowercase hex signature could have matched. With UTF-8 every non-ASCII character
 * lengthens the buffer, so only the exact 64-character ASCII string can match.
 */
export function helloSignatureMatches(secret: string, app: string, dev: string, ts: number, nonce: string, sig: string): boolean {
  const expected = Buffer.from(signHello(secret, app, dev, ts, nonce), 'latin1');
  const presented = Buffer.from(sig, 'utf8');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** Smallest nonce length the gateway accepts (protocol: at least 16 random chars). */
export const MIN_NONCE_LENGTH = 16;
