import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameType, WireCodec, frameTypeName, parseClientFrame, parseServerFrame, type RawFrame } from '../../src/protocol/index.js';
import { assertProtocolError } from './helpers.js';

const codec = new WireCodec();
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const x = (n: number): string => 'x'.repeat(n);

/** Sends a frame through the real codec first, so the parsers see what msgpackr produces. */
function wire(frame: Record<string, unknown>): RawFrame {
  return codec.decodeBody(codec.encode(frame as RawFrame).subarray(4));
}
function without(frame: Record<string, unknown>, field: string): Record<string, unknown> {
  const copy = { ...frame };
  delete copy[field];
  return copy;
}

type Parser = (raw: RawFrame) => unknown;

interface FieldCase {
  base: Record<string, unknown>;
  /** field -> values that must be rejected; `undefined` in the list means "field missing". */
  bad: Record<string, unknown[]>;
  /** Variants that must be accepted, with what the parser returns. */
  good: Array<[Record<string, unknown>, Record<string, unknown>]>;
}

function checkFields(parser: Parser, name: string, c: FieldCase): void {
  describe(name, () => {
    test('the base frame parses to itself', () => {
      assert.deepStrictEqual(parser(wire(c.base)), c.base);
    });
    for (const [field, values] of Object.entries(c.bad)) {
      for (const value of values) {
        const label = value === undefined ? 'missing' : typeof value === 'string' && value.length > 20 ? `a ${value.length}-char string` : JSON.stringify(value);
        test(`${field} = ${label} is frame_field_invalid / 4003`, () => {
          const frame = value === undefined ? without(c.base, field) : { ...c.base, [field]: value };
          const err = assertProtocolError(() => parser(wire(frame)), 'frame_field_invalid', 4003);
          assert.match(err.message, new RegExp(`"${field.replace('.', '\\.')}`));
        });
      }
    }
    c.good.forEach(([frame, parsed], i) => {
      test(`accepted variant ${i + 1}: ${JSON.stringify(frame).slice(0, 80)}`, () => {
        assert.deepStrictEqual(parser(wire(frame)), parsed);
      });
    });
  });
}

const notString = [undefined, 1, true, null, ['a'], { a: 1 }, ''];
const notInt = [undefined, '1', 1.5, true, null, [1], MAX_SAFE + 1];
const rids = [undefined, 1.5, '', x(65), true, null, [1]];

describe('parseClientFrame field checks', () => {
  const register = { t: FrameType.REGISTER, app: 'demo', key: 'ck' };
  checkFields(parseClientFrame, 'REGISTER', {
    base: register,
    bad: { app: [...notString, x(129)], key: [...notString, x(257)], pkg: [1, '', x(257), ['p']] },
    good: [
      [{ ...register, app: x(128), key: x(256), pkg: x(256) }, { ...register, app: x(128), key: x(256), pkg: x(256) }],
      [{ ...register, pkg: null }, register],
      [{ ...register, unknown: { a: 1 } }, register],
    ],
  });

  const hello = { t: FrameType.HELLO, v: 1, app: 'demo', dev: 'dev1', ts: 1_700_000_000_000, nonce: x(16), sig: 'ab'.repeat(32) };
  checkFields(parseClientFrame, 'HELLO', {
    base: hello,
    bad: {
      v: notInt, app: [...notString, x(129)], dev: [...notString, x(129)], ts: notInt,
      nonce: [...notString, x(129)], sig: [...notString, x(129)],
      hb: ['240', 1.5, true, MAX_SAFE + 1],
      cur: ['x', 5, true, [], [1], { log: -1 }, { log: 1.5 }, { log: '1' }, { log: null }, { log: MAX_SAFE + 1 }, { [x(257)]: 1 }],
      sdk: [5, '', x(65)],
    },
    good: [
      [{ ...hello, hb: 30, cur: { a: 0, [x(256)]: MAX_SAFE }, sdk: x(64) }, { ...hello, hb: 30, cur: { a: 0, [x(256)]: MAX_SAFE }, sdk: x(64) }],
      [{ ...hello, hb: null, cur: null, sdk: null }, hello],
      [{ ...hello, cur: {} }, { ...hello, cur: {} }],
      // The parser checks types and lengths; the protocol version, nonce length and clock
      // skew are the gateway's business, so these still parse.
      [{ ...hello, v: 2, ts: -1, nonce: 'short' }, { ...hello, v: 2, ts: -1, nonce: 'short' }],
    ],
  });

  checkFields(parseClientFrame, 'PING', {
    base: { t: FrameType.PING },
    bad: {},
    good: [[{ t: FrameType.PING, extra: [1, 2, 3] }, { t: FrameType.PING }]],
  });

  checkFields(parseClientFrame, 'ACK', {
    base: { t: FrameType.ACK, ids: ['m1', 'm2'] },
    bad: { ids: [undefined, 'm1', null, { 0: 'm1' }, [1], [''], ['m', null], [x(129)]] },
    good: [
      [{ t: FrameType.ACK, ids: [] }, { t: FrameType.ACK, ids: [] }],
      [{ t: FrameType.ACK, ids: [x(128), 'm1', 'm1'] }, { t: FrameType.ACK, ids: [x(128), 'm1', 'm1'] }],
    ],
  });

  for (const [name, t] of [['SUB', FrameType.SUB], ['UNSUB', FrameType.UNSUB]] as const) {
    checkFields(parseClientFrame, name, {
      base: { t, rid: 1, topics: ['news'] },
      bad: { rid: rids, topics: [undefined, 'news', null, [2], [''], [x(257)]] },
      good: [
        [{ t, rid: 'r', topics: [] }, { t, rid: 'r', topics: [] }],
        [{ t, rid: x(64), topics: [x(256)] }, { t, rid: x(64), topics: [x(256)] }],
        [{ t, rid: -MAX_SAFE, topics: ['a'] }, { t, rid: -MAX_SAFE, topics: ['a'] }],
      ],
    });
  }

  checkFields(parseClientFrame, 'OPENED', {
    base: { t: FrameType.OPENED, id: 'm1' },
    bad: { id: [...notString, x(129)] },
    good: [[{ t: FrameType.OPENED, id: x(128) }, { t: FrameType.OPENED, id: x(128) }]],
  });

  checkFields(parseClientFrame, 'BYE (from a device)', {
    base: { t: FrameType.BYE, code: 1000 },
    bad: { code: notInt, retry: ['5', 1.5, true] },
    good: [
      [{ t: FrameType.BYE, code: 1000, reason: 'bye', retry: 0 }, { t: FrameType.BYE, code: 1000, reason: 'bye', retry: 0 }],
      // A reason that is not a string is dropped; a long one is cut to 256 characters.
      [{ t: FrameType.BYE, code: 1000, reason: 5, retry: null }, { t: FrameType.BYE, code: 1000 }],
      [{ t: FrameType.BYE, code: 1000, reason: x(300) }, { t: FrameType.BYE, code: 1000, reason: x(256) }],
    ],
  });
});

describe('parseServerFrame field checks', () => {
  checkFields(parseServerFrame, 'REGISTERED', {
    base: { t: FrameType.REGISTERED, dev: 'd', secret: 's' },
    bad: { dev: [...notString, x(129)], secret: [...notString, x(257)] },
    good: [[{ t: FrameType.REGISTERED, dev: x(128), secret: x(256) }, { t: FrameType.REGISTERED, dev: x(128), secret: x(256) }]],
  });

  checkFields(parseServerFrame, 'WELCOME', {
    base: { t: FrameType.WELCOME, hb: 240, sid: 's', now: 1 },
    bad: { hb: notInt, sid: [...notString, x(129)], now: notInt },
    good: [[{ t: FrameType.WELCOME, hb: 1, sid: x(128), now: MAX_SAFE }, { t: FrameType.WELCOME, hb: 1, sid: x(128), now: MAX_SAFE }]],
  });

  checkFields(parseServerFrame, 'PONG', { base: { t: FrameType.PONG }, bad: {}, good: [] });

  const push = { t: FrameType.PUSH, id: 'm1', ts: 1, exp: 2 };
  checkFields(parseServerFrame, 'PUSH', {
    base: push,
    bad: {
      id: [...notString, x(129)], ts: notInt, exp: notInt,
      n: ['x', 5, true, [], ['title']],
      log: [5, '', x(257), true],
      cid: [5, '', x(129)],
    },
    good: [
      [{ ...push, data: null }, { ...push, data: null }],
      [{ ...push, data: [1, 'a', { b: false }] }, { ...push, data: [1, 'a', { b: false }] }],
      [{ ...push, n: null, cid: null, log: null }, push],
      [{ ...push, n: {} }, { ...push, n: {} }],
      [{ ...push, n: { title: 't', body: 'b', extra: [1] } }, { ...push, n: { title: 't', body: 'b', extra: [1] } }],
      [{ ...push, log: x(256), seq: 0, cid: x(128) }, { ...push, log: x(256), seq: 0, cid: x(128) }],
      // `seq` only means something next to `log`.
      [{ ...push, seq: 5 }, push],
    ],
  });

  test('PUSH: n.title / n.body of the wrong type, and log without an integer seq, are frame_field_invalid', () => {
    for (const n of [{ title: 1 }, { body: false }, { title: null }, { body: ['b'] }]) {
      const err = assertProtocolError(() => parseServerFrame(wire({ ...push, n })), 'frame_field_invalid');
      assert.match(err.message, /"n\.(title|body)"/);
    }
    for (const seq of [undefined, '1', 1.5, null, -0.5]) {
      const frame = seq === undefined ? { ...push, log: 'l' } : { ...push, log: 'l', seq };
      const err = assertProtocolError(() => parseServerFrame(wire(frame)), 'frame_field_invalid');
      assert.match(err.message, /"seq"/);
    }
  });

  checkFields(parseServerFrame, 'SUBACK', {
    base: { t: FrameType.SUBACK, rid: 1, ok: true },
    bad: { rid: rids, ok: [undefined, 'true', 1, 0, null] },
    good: [
      [{ t: FrameType.SUBACK, rid: 'r', ok: false, err: 'topic_invalid' }, { t: FrameType.SUBACK, rid: 'r', ok: false, err: 'topic_invalid' }],
      [{ t: FrameType.SUBACK, rid: 1, ok: false, err: 5 }, { t: FrameType.SUBACK, rid: 1, ok: false }],
    ],
  });

  checkFields(parseServerFrame, 'RESYNC', {
    base: { t: FrameType.RESYNC, reason: 'inbox_overflow' },
    bad: { reason: [undefined, 'other', '', 1, null, 'INBOX_OVERFLOW'] },
    good: [[{ t: FrameType.RESYNC, reason: 'cursor_gone' }, { t: FrameType.RESYNC, reason: 'cursor_gone' }]],
  });

  checkFields(parseServerFrame, 'BYE (from the server)', {
    base: { t: FrameType.BYE, code: 4007, retry: 5000 },
    bad: { code: notInt, retry: ['5', 1.5] },
    good: [[{ t: FrameType.BYE, code: 4008, reason: 'slow down' }, { t: FrameType.BYE, code: 4008, reason: 'slow down' }]],
  });

  checkFields(parseServerFrame, 'ERROR', {
    base: { t: FrameType.ERROR, code: 'c', msg: 'm' },
    bad: { code: [...notString, x(129)], msg: [...notString, x(1025)], rid: [1.5, '', x(65), true] },
    good: [
      [{ t: FrameType.ERROR, code: x(128), msg: x(1024), rid: 9 }, { t: FrameType.ERROR, code: x(128), msg: x(1024), rid: 9 }],
      [{ t: FrameType.ERROR, code: 'c', msg: 'm', rid: null }, { t: FrameType.ERROR, code: 'c', msg: 'm' }],
    ],
  });
});

describe('frame types a side does not know', () => {
  const serverOnly = [FrameType.REGISTERED, FrameType.WELCOME, FrameType.PONG, FrameType.PUSH, FrameType.SUBACK, FrameType.RESYNC, FrameType.ERROR, FrameType.CURSOR, FrameType.REVOKE];
  const clientOnly = [FrameType.REGISTER, FrameType.HELLO, FrameType.PING, FrameType.ACK, FrameType.SUB, FrameType.UNSUB, FrameType.OPENED];
  const future = [16, 31, 34, 40, 255, 1000, 2 ** 31, MAX_SAFE];

  test('parseClientFrame throws frame_type_unknown / 4003 for server frames and unknown numbers', () => {
    for (const t of [...serverOnly, ...future]) {
      // Valid-looking fields do not help: the type alone decides.
      const err = assertProtocolError(() => parseClientFrame(wire({ t, id: 'm', ts: 1, exp: 2 })), 'frame_type_unknown', 4003);
      assert.match(err.message, new RegExp(`\\b${t}\\b`));
    }
  });

  test('parseServerFrame returns null for client frames and unknown numbers (forward compatibility)', () => {
    for (const t of [...clientOnly, ...future]) {
      assert.equal(parseServerFrame(wire({ t, app: 'a', key: 'k', whatever: { nested: [1] } })), null);
    }
  });

  test('BYE is the one type both sides parse', () => {
    const raw = wire({ t: FrameType.BYE, code: 4001 });
    assert.deepStrictEqual(parseClientFrame(raw), { t: 14, code: 4001 });
    assert.deepStrictEqual(parseServerFrame(raw), { t: 14, code: 4001 });
  });
});

describe('frame type numbers', () => {
  test('are the contract values', () => {
    assert.deepStrictEqual({ ...FrameType }, {
      REGISTER: 1, REGISTERED: 2, HELLO: 3, WELCOME: 4, PING: 5, PONG: 6, PUSH: 7, ACK: 8,
      SUB: 9, UNSUB: 10, SUBACK: 11, OPENED: 12, RESYNC: 13, BYE: 14, ERROR: 15,
      CURSOR: 32, REVOKE: 33,
    });
  });

  test('frameTypeName labels known numbers and calls the rest "unknown"', () => {
    for (const [name, t] of Object.entries(FrameType)) assert.equal(frameTypeName(t), name);
    for (const t of [0, -1, 16, 34, 1.5, Number.NaN]) assert.equal(frameTypeName(t), 'unknown');
  });
});
