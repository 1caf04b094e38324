/**
 * Every error the SDK hands to an application, in one catalog. Codes are stable API: apps
 * branch on `code`, never on messages. README.md lists the same codes (a test keeps the two
 * in step).
 */
export const petrelErrorCatalog = {
  invalid_options: 'client options failed validation',
  invalid_argument: 'a method argument is invalid (e.g. empty topic list)',
  already_started: 'start() was called twice',
  subscription_rejected: 'the gateway answered SUB/UNSUB with ok:false; `err` holds its code',
  request_failed: 'the gateway answered a request with an ERROR frame; `err` holds its code',
  request_timeout: 'a SUB/UNSUB request got no answer within requestTimeoutMs',
  client_closed: 'close() was called while the request was pending',
  client_stopped: 'the gateway told the client not to reconnect (4006 / 4010)',
  server_error: 'the gateway sent an ERROR frame not tied to a pending request',
  store_failed: 'the DeviceStore failed to load, save or clear device state',
  store_corrupt: 'the stored device state is not valid; delete it to register anew',
  protocol_violation: 'the gateway sent a frame the SDK could not decode or validate',
  listener_failed: 'an application event listener threw',
} as const;

export type PetrelErrorCode = keyof typeof petrelErrorCatalog;

export interface PetrelErrorDetails {
  /** Server-supplied error code: SUBACK `err` or ERROR `code`. */
  err?: string;
  cause?: unknown;
}

export class PetrelError extends Error {
  override readonly name = 'PetrelError';
  /** Server-supplied error code (SUBACK `err`, ERROR `code`), when the server gave one. */
  readonly err: string | undefined;

  constructor(
    readonly code: PetrelErrorCode,
    message: string = petrelErrorCatalog[code],
    details: PetrelErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.err = details.err;
  }
}

export function isPetrelError(value: unknown, code?: PetrelErrorCode): value is PetrelError {
  return value instanceof PetrelError && (code === undefined || value.code === code);
}
