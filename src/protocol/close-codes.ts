/**
 * BYE close codes (docs/protocol.md, "Close codes"). Contract values: never renumber.
 * `reconnect` tells a client what the code asks of it; the SDK's reconnect policy and
 * the gateway's metrics both read this one table.
 */
export const CloseCode = {
  NORMAL: 1000,
  AUTH_FAILED: 4001,
  AUTH_TIMEOUT: 4002,
  PROTOCOL_ERROR: 4003,
  FRAME_TOO_LARGE: 4004,
  SLOW_CONSUMER: 4005,
  REPLACED: 4006,
  DRAINING: 4007,
  RATE_LIMITED: 4008,
  HEARTBEAT_TIMEOUT: 4009,
  APP_UNKNOWN: 4010,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * What a client should do after a close:
 * - backoff: reconnect with exponential full-jitter backoff;
 * - retry_hint: reconnect after the server's `retry` ms plus jitter;
 * - reregister: the credentials are no good; register a new device, then reconnect;
 * - stop: do not reconnect from this connection (replaced) or at all (app unknown).
 */
export type ReconnectPolicy = 'backoff' | 'retry_hint' | 'reregister' | 'stop';

export const closeCodeInfo: Readonly<Record<CloseCode, { label: string; reconnect: ReconnectPolicy }>> = {
  1000: { label: 'normal', reconnect: 'backoff' },
  4001: { label: 'auth_failed', reconnect: 'reregister' },
  4002: { label: 'auth_timeout', reconnect: 'backoff' },
  4003: { label: 'protocol_error', reconnect: 'backoff' },
  4004: { label: 'frame_too_large', reconnect: 'backoff' },
  4005: { label: 'slow_consumer', reconnect: 'backoff' },
  4006: { label: 'replaced', reconnect: 'stop' },
  4007: { label: 'draining', reconnect: 'retry_hint' },
  4008: { label: 'rate_limited', reconnect: 'retry_hint' },
  4009: { label: 'heartbeat_timeout', reconnect: 'backoff' },
  4010: { label: 'app_unknown', reconnect: 'stop' },
};

export function isCloseCode(n: unknown): n is CloseCode {
  return typeof n === 'number' && Object.hasOwn(closeCodeInfo, n);
}

/** Close codes unknown to this version are treated like a protocol error: back off. */
export function reconnectPolicy(code: number): ReconnectPolicy {
  return isCloseCode(code) ? closeCodeInfo[code].reconnect : 'backoff';
}
