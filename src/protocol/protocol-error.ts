import { CloseCode } from './close-codes.js';

/**
 * Stable codes for everything that can be wrong with bytes on the wire. Each maps to the
 * close code the server answers with (docs/protocol.md). The decoder and frame parsers
 * throw nothing but ProtocolError, so a caller can close the connection with `closeCode`
 * and count `code` in a metric without inspecting messages.
 */
export const protocolErrorCodes = {
  frame_too_large: CloseCode.FRAME_TOO_LARGE,
  frame_empty: CloseCode.PROTOCOL_ERROR,
  body_malformed: CloseCode.PROTOCOL_ERROR,
  body_too_long: CloseCode.PROTOCOL_ERROR,
  body_too_deep: CloseCode.PROTOCOL_ERROR,
  body_forbidden_key: CloseCode.PROTOCOL_ERROR,
  body_not_map: CloseCode.PROTOCOL_ERROR,
  frame_type_unknown: CloseCode.PROTOCOL_ERROR,
  frame_field_invalid: CloseCode.PROTOCOL_ERROR,
  frame_unexpected: CloseCode.PROTOCOL_ERROR,
} as const satisfies Record<string, CloseCode>;

export type ProtocolErrorCode = keyof typeof protocolErrorCodes;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly closeCode: CloseCode;
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.closeCode = protocolErrorCodes[code];
  }
}
