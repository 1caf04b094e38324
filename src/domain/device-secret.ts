import { createHmac } from 'node:crypto';

/**
 * Device secrets are derived, never stored. The HELLO signature is an HMAC keyed with the
 * device secret (docs/protocol.md), so the gateway needs the secret itself to verify it;
 * a hash at rest could not serve. Instead the secret is HMAC(serverDeviceKey, identity),
 * recomputed on every HELLO: Redis holds nothing that lets a reader of the database
 * impersonate a device. Bumping a device's `gen` (re-issue, invalidate) changes its secret.
 */
export function deriveDeviceSecret(deviceKey: Buffer, appId: string, deviceId: string, gen: number): string {
  return createHmac('sha256', deviceKey).update(`petrel-device-secret\n${appId}\n${deviceId}\n${gen}`).digest('base64url');
}

/** Parses the configured base64 server key; at least 32 bytes so derived secrets keep 256 bits. */
export function parseDeviceKey(base64: string): Buffer | null {
  const key = Buffer.from(base64, 'base64');
  return key.length >= 32 ? key : null;
}
