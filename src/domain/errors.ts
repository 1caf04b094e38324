/**
 * The error catalog: every error Petrel reports to a device, an app server or an operator
 * has one stable `code` here, with the HTTP status it maps to and, where a device session
 * ends because of it, the BYE close code (docs/protocol.md). docs/errors.md lists the same
 * table; test/domain/errors.test.ts keeps the two in step.
 */
export const errorCatalog = {
  config_invalid: { status: 500, message: 'The service configuration is invalid.' },
  internal: { status: 500, message: 'Internal error.' },
  storage_unavailable: { status: 503, message: 'Storage is unavailable; retry later (with the same Idempotency-Key, a send that was stored after all is not sent twice).' },
  app_unknown: { status: 404, closeCode: 4010, message: 'The app does not exist or is disabled.' },
  auth_failed: { status: 401, closeCode: 4001, message: 'Authentication failed.' },
  hello_stale: { status: 401, closeCode: 4001, message: 'HELLO timestamp is outside the accepted window.' },
  nonce_replayed: { status: 401, closeCode: 4001, message: 'HELLO nonce was already used.' },
  topic_invalid: { status: 400, message: 'Topic names are 1-128 characters of letters, digits and _ - . ~ %.' },
  topic_limit: { status: 409, message: 'The device is subscribed to the maximum number of topics.' },
  rate_limited: { status: 429, closeCode: 4008, message: 'Too many requests.' },
  rpc_unavailable: { status: 503, message: 'Another Petrel tier could not be reached; the call was not made. Retry later.' },
  rpc_timeout: { status: 504, message: 'Another Petrel tier did not answer in time; the call may or may not have taken effect.' },
  body_invalid: { status: 400, message: 'The request body does not match the schema; see `details` for each field.' },
  query_invalid: { status: 400, message: 'A path parameter or the query string is invalid; see `details` for each field.' },
  body_too_large: { status: 413, message: 'The request body is larger than the API accepts.' },
  device_unknown: { status: 400, message: 'A target device does not exist in this app or was invalidated; see `details.devices`.' },
  data_too_large: { status: 400, message: 'The encoded `data` is larger than the configured maximum (4 KiB by default).' },
  payload_invalid: { status: 400, message: 'The message cannot be encoded for devices (nesting too deep, too many entries, or a reserved key such as __proto__).' },
  device_not_found: { status: 404, message: 'No such device in this app.' },
  log_unsupported: { status: 400, message: 'This log cannot be published to.' },
  app_not_found: { status: 404, message: 'No app with this id.' },
  secret_not_found: { status: 404, message: 'The app has no server secret with this id (or it has lapsed).' },
  idempotency_key_invalid: { status: 400, message: 'Idempotency-Key must be 1-255 printable ASCII characters.' },
  idempotency_conflict: { status: 409, message: 'This Idempotency-Key was used with a different request within the last 24 hours.' },
  idempotency_in_progress: { status: 409, message: 'A request with this Idempotency-Key is still being processed; retry shortly.' },
  send_at_invalid: { status: 400, message: '`sendAt` is in the past or further ahead than the configured maximum (7 days by default).' },
  message_not_cancellable: { status: 409, message: 'Only a scheduled message whose time has not come can be cancelled; this one is being or was sent.' },
  route_not_found: { status: 404, message: 'No such endpoint; see /openapi.json.' },
  condition_invalid: { status: 400, message: 'The topic condition does not parse or exceeds a limit (16 distinct topics, nesting depth 8, 1024 characters); the message gives the position. Topics combine with && (AND), || (OR), ! (NOT) and parentheses.' },
  callback_unsupported: { status: 400, message: '`callbackUrl` is for device, alias and account sends; follow a topic, condition or whole-app send with GET /v1/messages/{id} or the app statistics.' },
  message_not_broadcast: { status: 409, message: 'Only a topic, condition or whole-app message can be revoked; cancel a scheduled unicast with DELETE instead.' },
  campaign_not_found: { status: 404, message: 'No campaign with this id in this app.' },
  campaign_state: { status: 409, message: 'The campaign is not in a state that allows this (see the message); repeating an action that already happened is not an error.' },
  audience_invalid: { status: 400, message: 'The uploaded audience has a bad line (a device id, or alias:<name>, per line), or a list campaign was started without one; see `details.line`.' },
  audience_too_large: { status: 413, message: 'The uploaded audience has more lines than the configured maximum (1,000,000 by default).' },
  message_not_found: { status: 404, message: 'No message with this id in this app (or its trace has expired).' },
} as const satisfies Record<string, { status: number; closeCode?: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalog;

/** Whether a code that crossed a process boundary (an RPC's RpcError) is one of ours. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalog, code);
}

export class PetrelError extends Error {
  override readonly name: string = 'PetrelError';
  readonly status: number;
  readonly closeCode: number | undefined;
  /** Machine-readable specifics for API clients (field errors, the unknown ids). */
  readonly details: Record<string, unknown> | undefined;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    const entry: { status: number; closeCode?: number; message: string } = errorCatalog[code];
    super(message ?? entry.message, options);
    this.status = entry.status;
    this.closeCode = entry.closeCode;
    this.details = options?.details;
  }
}

export class ConfigError extends PetrelError {
  override readonly name = 'ConfigError';
  constructor(message: string) {
    super('config_invalid', message);
  }
}
