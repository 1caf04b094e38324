import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloseCode, ProtocolError, closeCodeInfo, isCloseCode, protocolErrorCodes, reconnectPolicy, type ReconnectPolicy } from '../../src/protocol/index.js';

/** The close-code table of the contract, with what the client does after each code. */
const contract: Array<[number, string, ReconnectPolicy]> = [
  [1000, 'normal', 'backoff'],
  [4001, 'auth_failed', 'reregister'],
  [4002, 'auth_timeout', 'backoff'],
  [4003, 'protocol_error', 'backoff'],
  [4004, 'frame_too_large', 'backoff'],
  [4005, 'slow_consumer', 'backoff'],
  [4006, 'replaced', 'stop'],
  [4007, 'draining', 'retry_hint'],
  [4008, 'rate_limited', 'retry_hint'],
  [4009, 'heartbeat_timeout', 'backoff'],
  [4010, 'app_unknown', 'stop'],
];

describe('close codes', () => {
  for (const [code, label, policy] of contract) {
    test(`${code} (${label}) -> ${policy}`, () => {
      assert.equal(isCloseCode(code), true);
      assert.equal(reconnectPolicy(code), policy);
      assert.deepStrictEqual(closeCodeInfo[code as CloseCode], { label, reconnect: policy });
    });
  }

  test('the table has exactly the contract codes', () => {
    assert.deepStrictEqual(Object.keys(closeCodeInfo).map(Number).sort((a, b) => a - b), contract.map(([c]) => c));
    assert.deepStrictEqual(Object.values(CloseCode).sort((a, b) => a - b), contract.map(([c]) => c));
    assert.deepStrictEqual({ ...CloseCode }, {
      NORMAL: 1000, AUTH_FAILED: 4001, AUTH_TIMEOUT: 4002, PROTOCOL_ERROR: 4003, FRAME_TOO_LARGE: 4004,
      SLOW_CONSUMER: 4005, REPLACED: 4006, DRAINING: 4007, RATE_LIMITED: 4008, HEARTBEAT_TIMEOUT: 4009, APP_UNKNOWN: 4010,
    });
  });

  test('unknown codes back off', () => {
    for (const code of [0, -1, 999, 1001, 1006, 1011, 3000, 4000, 4011, 4099, 4999, 65535, 4001.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(isCloseCode(code), false, String(code));
      assert.equal(reconnectPolicy(code), 'backoff', String(code));
    }
  });

  test('isCloseCode accepts only numbers that are own keys of the table', () => {
    for (const v of ['4001', 4001n, null, undefined, {}, 'constructor', 'toString', '__proto__']) {
      assert.equal(isCloseCode(v), false, String(v));
    }
  });
});

describe('ProtocolError codes and their close codes', () => {
  const expected = {
    frame_too_large: 4004,
    frame_empty: 4003,
    body_malformed: 4003,
    body_too_long: 4003,
    body_too_deep: 4003,
    body_forbidden_key: 4003,
    body_not_map: 4003,
    frame_type_unknown: 4003,
    frame_field_invalid: 4003,
    frame_unexpected: 4003,
  };

  test('every code maps to the documented close code', () => {
    assert.deepStrictEqual({ ...protocolErrorCodes }, expected);
  });

  test('a ProtocolError carries its code, close code, name and message', () => {
    for (const [code, closeCode] of Object.entries(expected)) {
      const err = new ProtocolError(code as keyof typeof expected, `m-${code}`);
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'ProtocolError');
      assert.equal(err.code, code);
      assert.equal(err.closeCode, closeCode);
      assert.equal(err.message, `m-${code}`);
      assert.equal(reconnectPolicy(err.closeCode), 'backoff');
    }
  });
});
