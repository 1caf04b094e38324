import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The `Petrel-Signature` header of a receipt POST, in the style of Stripe's:
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + rawBody)>`. Signing the time
 * with the body lets a receiver refuse a captured request replayed later (README,
 * "Receipts": compare `t` with its clock, within the tolerance).
 */
export const RECEIPT_SIGNATURE_HEADER = 'Petrel-Signature';
export const RECEIPT_DELIVERY_HEADER = 'Petrel-Delivery';
/** What receivers are told to accept between `t` and their clock. */
export const RECEIPT_TOLERANCE_SEC = 300;

function hmac(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

export function signReceipt(secret: string, body: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${hmac(secret, t, body)}`;
}

/** A receiver's check (used by the tests, and the reference for README's example). */
export function verifyReceipt(secret: string, body: string, header: string, nowMs = Date.now(), toleranceSec = RECEIPT_TOLERANCE_SEC): boolean {
  const parts = new Map(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowMs / 1000 - t) > toleranceSec) return false;
  const expected = Buffer.from(hmac(secret, t, body));
  const given = Buffer.from(v1);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
