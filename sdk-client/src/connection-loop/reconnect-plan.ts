import { reconnectPolicy } from '../../../src/protocol/index.js';
import type { Backoff } from './backoff.js';

/** What the client does after a connection ends. */
export type ReconnectPlan =
  | { readonly kind: 'reconnect'; readonly delayMs: number; readonly reregister: boolean }
  | { readonly kind: 'stop' };

/**
 * 4001 BYE reasons (as the Petrel gateway sends them) that say nothing against the
 * credentials: a HELLO timestamp outside the gateway's window (the device clock is off) or a
 * replayed nonce. Re-registering would mint a new device id on every attempt and strand the
 * app server's copy of the old one, without fixing either cause, so these back off with the
 * same credentials. Any other 4001, or none of these reasons, re-registers as the protocol says.
 */
export const CREDENTIALS_STILL_VALID_4001_REASONS: ReadonlySet<string> = new Set(['hello_stale', 'nonce_replayed']);

/** Upper bound of the jitter added to a server `retry` hint. */
export const RETRY_HINT_MAX_JITTER_MS = 5_000;

/**
 * Maps how a connection ended to the next step, per the close-code table of
 * docs/protocol.md (read through the codec's reconnectPolicy so SDK and gateway agree):
 * - no BYE (socket closed, timed out, failed to connect): backoff;
 * - 'backoff': jittered exponential backoff;
 * - 'retry_hint' (4007 draining, 4008 rate limited): the server's `retry` ms plus
 *   random(0, min(max(retry, baseMs), 5 s)). The jitter scales with the hint so clients told
 *   to come back together do not, but never exceeds 5 s so the hint stays meaningful; using
 *   at least baseMs keeps `retry: 0` from becoming a tight loop. No hint: backoff.
 * - 'reregister' (4001): forget the credentials and register again, after a backoff delay
 *   so a server that rejects every registration is not hammered (but see
 *   CREDENTIALS_STILL_VALID_4001_REASONS).
 * - 'stop' (4006 replaced, 4010 app unknown): never reconnect from this client.
 */
export function planReconnect(
  byeCode: number | undefined,
  byeReason: string | undefined,
  retryMs: number | undefined,
  backoff: Backoff,
  baseMs: number,
  random: () => number = Math.random,
): ReconnectPlan {
  const policy = byeCode === undefined ? 'backoff' : reconnectPolicy(byeCode);
  switch (policy) {
    case 'stop':
      return { kind: 'stop' };
    case 'reregister':
      return { kind: 'reconnect', delayMs: backoff.next(), reregister: !CREDENTIALS_STILL_VALID_4001_REASONS.has(byeReason ?? '') };
    case 'retry_hint':
      if (retryMs !== undefined && retryMs >= 0) {
        const jitterCeiling = Math.min(Math.max(retryMs, baseMs), RETRY_HINT_MAX_JITTER_MS);
        return { kind: 'reconnect', delayMs: retryMs + Math.floor(random() * jitterCeiling), reregister: false };
      }
      return { kind: 'reconnect', delayMs: backoff.next(), reregister: false };
    case 'backoff':
      return { kind: 'reconnect', delayMs: backoff.next(), reregister: false };
  }
}
