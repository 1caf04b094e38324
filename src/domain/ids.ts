import { randomBytes } from 'node:crypto';

/**
 * Identifier formats. All are URL-safe base64 of CSPRNG bytes so they can appear in
 * paths, Redis keys and log lines without escaping. Device ids carry 128 bits
 * (docs/protocol.md: regId >= 128-bit random), so they are unguessable as well as unique.
 */
export function newDeviceId(): string {
  return randomBytes(16).toString('base64url');
}

export function newSessionId(): string {
  return randomBytes(9).toString('base64url');
}

export function newAppId(): string {
  return randomBytes(9).toString('base64url');
}

/** A secret credential: 256 bits. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A flat copy of an ASCII id. Decoders hand out strings sliced from a larger string (all
 * the strings of one frame, say); keeping such a slice for the life of a connection keeps
 * its whole parent alive. Copy ids that are kept long.
 */
export function ownString(id: string): string {
  return Buffer.from(id, 'latin1').toString('latin1');
}

/** Device ids, app ids and other ids we issue: URL-safe base64 alphabet only. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
