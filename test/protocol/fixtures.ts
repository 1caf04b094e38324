import {
  FrameType,
  type AckFrame,
  type ByeFrame,
  type ClientFrame,
  type ErrorFrame,
  type HelloFrame,
  type OpenedFrame,
  type PingFrame,
  type PongFrame,
  type PushFrame,
  type RawFrame,
  type RegisteredFrame,
  type RegisterFrame,
  type ResyncFrame,
  type ServerFrame,
  type SubackFrame,
  type SubFrame,
  type UnsubFrame,
  type WelcomeFrame,
} from '../../src/protocol/index.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

/**
 * One valid frame of the wire protocol. `client` / `server` is what parseClientFrame /
 * parseServerFrame must return for it: the frame itself unless the fixture carries unknown
 * fields (dropped by the parsers), `null` for parseServerFrame on a type it does not know,
 * and 'reject' where parseClientFrame must throw frame_type_unknown.
 */
export interface FrameFixture {
  name: string;
  frame: RawFrame;
  client: ClientFrame | 'reject';
  server: ServerFrame | null;
}

function c2s(name: string, frame: ClientFrame, parsed: ClientFrame = frame): FrameFixture {
  return { name, frame: frame as RawFrame, client: parsed, server: null };
}
function s2c(name: string, frame: ServerFrame, parsed: ServerFrame = frame): FrameFixture {
  return { name, frame: frame as RawFrame, client: 'reject', server: parsed };
}

const helloFull = {
  t: FrameType.HELLO,
  v: 1,
  app: 'app_😀_中文',
  dev: 'd_Zm9vYmFyYmF6cXV4cXV1eA',
  ts: 1_700_000_000_123,
  nonce: 'n0nce-ÿ-𝄞-0123456789abcdef',
  sig: 'a'.repeat(64),
  hb: 240,
  cur: { 'topic:news': 0, 'broadcast:all': MAX_SAFE, 'топик/ü': 42, '': 7 },
  sdk: 'petrel-js/0.1.0',
} satisfies HelloFrame;

const pushFull = {
  t: FrameType.PUSH,
  id: 'm_01HZY7Q9',
  ts: MAX_SAFE - 1,
  exp: MAX_SAFE,
  data: {
    nested: { deeper: { deepest: [1, [2, [3, { four: 4 }]]] } },
    ints: [0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53 - 2],
    floats: [0.5, -1.25, 1e300, -1e-300, Number.MIN_VALUE],
    bools: [true, false],
    nothing: null,
    bytes: Buffer.from([0, 1, 2, 254, 255]),
    unicode: 'héllo wörld — 你好 — 😀👩‍👩‍👧 — \u0000 nul',
    '键': '值',
    emptyMap: {},
    emptyArray: [],
    emptyString: '',
  },
  n: { title: 'Title ✓', body: 'Body with emoji 🎉', badge: 3, sound: 'default', extra: { deep: ['x'] } },
  log: 'topic:news',
  seq: MAX_SAFE,
  cid: 'campaign-42',
} satisfies PushFrame;

export const fixtures: FrameFixture[] = [
  // --- device -> server
  c2s('REGISTER minimal', { t: FrameType.REGISTER, app: 'demo', key: 'ck_live_123' } satisfies RegisterFrame),
  c2s('REGISTER with pkg', { t: FrameType.REGISTER, app: 'demo', key: 'ck_live_123', pkg: 'com.example.app' } satisfies RegisterFrame),
  c2s('HELLO minimal', { t: FrameType.HELLO, v: 1, app: 'demo', dev: 'dev1', ts: 0, nonce: '0123456789abcdef', sig: 'f'.repeat(64) } satisfies HelloFrame),
  c2s('HELLO full, unicode and 2^53-1 cursor', helloFull),
  c2s('HELLO with empty cur map', { ...helloFull, cur: {} }),
  c2s('PING', { t: FrameType.PING } satisfies PingFrame),
  c2s('ACK several', { t: FrameType.ACK, ids: ['m1', 'm2', 'ß-3', 'x'.repeat(128)] } satisfies AckFrame),
  c2s('ACK empty', { t: FrameType.ACK, ids: [] } satisfies AckFrame),
  c2s('SUB numeric rid', { t: FrameType.SUB, rid: 1, topics: ['news', 'sport'] } satisfies SubFrame),
  c2s('SUB string rid, big topic list', { t: FrameType.SUB, rid: 'r-1', topics: Array.from({ length: 100 }, (_, i) => `topic-${i}-ü`) } satisfies SubFrame),
  c2s('UNSUB', { t: FrameType.UNSUB, rid: MAX_SAFE, topics: ['news'] } satisfies UnsubFrame),
  c2s('OPENED', { t: FrameType.OPENED, id: 'm_01HZY7Q9' } satisfies OpenedFrame),
  {
    name: 'BYE minimal (both directions)',
    frame: { t: FrameType.BYE, code: 1000 } satisfies ByeFrame,
    client: { t: FrameType.BYE, code: 1000 },
    server: { t: FrameType.BYE, code: 1000 },
  },
  {
    name: 'REGISTER with unknown fields (ignored by the parser)',
    frame: { t: FrameType.REGISTER, app: 'demo', key: 'k', future: { a: [1, 2] }, zz: null },
    client: { t: FrameType.REGISTER, app: 'demo', key: 'k' },
    server: null,
  },
  {
    name: 'HELLO with null optionals (treated as absent)',
    frame: { t: FrameType.HELLO, v: 1, app: 'a', dev: 'd', ts: 5, nonce: 'n'.repeat(16), sig: 's', hb: null, cur: null, sdk: null },
    client: { t: FrameType.HELLO, v: 1, app: 'a', dev: 'd', ts: 5, nonce: 'n'.repeat(16), sig: 's' },
    server: null,
  },

  // --- server -> device
  s2c('REGISTERED', { t: FrameType.REGISTERED, dev: 'Zm9vYmFyYmF6cXV4cXV1eA_-', secret: 's3cr3t/+=' } satisfies RegisteredFrame),
  s2c('WELCOME', { t: FrameType.WELCOME, hb: 240, sid: 'sess-1', now: 1_700_000_000_000 } satisfies WelcomeFrame),
  s2c('WELCOME at 2^53-1', { t: FrameType.WELCOME, hb: 1, sid: 's', now: MAX_SAFE } satisfies WelcomeFrame),
  s2c('PONG', { t: FrameType.PONG } satisfies PongFrame),
  s2c('PUSH minimal', { t: FrameType.PUSH, id: 'm1', ts: 1, exp: 2 } satisfies PushFrame),
  s2c('PUSH everything', pushFull),
  s2c('PUSH empty data map', { t: FrameType.PUSH, id: 'm2', ts: 1, exp: 2, data: {} } satisfies PushFrame),
  s2c('PUSH null data', { t: FrameType.PUSH, id: 'm3', ts: 1, exp: 2, data: null } satisfies PushFrame),
  s2c('PUSH scalar data', { t: FrameType.PUSH, id: 'm4', ts: 1, exp: 2, data: 'just a string' } satisfies PushFrame),
  s2c('PUSH negative ints near -2^53', { t: FrameType.PUSH, id: 'm5', ts: -MAX_SAFE, exp: -1, data: [-MAX_SAFE, -(2 ** 52)] } satisfies PushFrame),
  s2c('PUSH notification only', { t: FrameType.PUSH, id: 'm6', ts: 1, exp: 2, n: { title: 'T' } } satisfies PushFrame),
  s2c('SUBACK ok', { t: FrameType.SUBACK, rid: 1, ok: true } satisfies SubackFrame),
  s2c('SUBACK error', { t: FrameType.SUBACK, rid: 'r-1', ok: false, err: 'topic_invalid' } satisfies SubackFrame),
  s2c('RESYNC inbox_overflow', { t: FrameType.RESYNC, reason: 'inbox_overflow' } satisfies ResyncFrame),
  s2c('RESYNC cursor_gone', { t: FrameType.RESYNC, reason: 'cursor_gone' } satisfies ResyncFrame),
  s2c('ERROR with rid', { t: FrameType.ERROR, rid: 7, code: 'rate_limited', msg: 'slow down ⏳' } satisfies ErrorFrame),
  s2c('ERROR without rid', { t: FrameType.ERROR, code: 'internal', msg: 'm' } satisfies ErrorFrame),

  // --- both directions
  {
    name: 'BYE from server with reason and retry',
    frame: { t: FrameType.BYE, code: 4007, reason: 'draining — bye', retry: 30_000 },
    client: { t: FrameType.BYE, code: 4007, reason: 'draining — bye', retry: 30_000 },
    server: { t: FrameType.BYE, code: 4007, reason: 'draining — bye', retry: 30_000 },
  },

  // --- Petrel additions (>= 32), server to device only
  {
    name: 'CURSOR',
    frame: { t: FrameType.CURSOR, log: 'app', seq: 41 },
    client: 'reject',
    server: { t: FrameType.CURSOR, log: 'app', seq: 41 },
  },
  {
    name: 'REVOKE',
    frame: { t: FrameType.REVOKE, id: '01KAAAAAAAAAAAAAAAAAAAAAAA' },
    client: 'reject',
    server: { t: FrameType.REVOKE, id: '01KAAAAAAAAAAAAAAAAAAAAAAA' },
  },

  // --- a frame type from a future version (>= 32): the SDK ignores it, the server rejects it
  {
    name: 'future frame type 40',
    frame: { t: 40, anything: { goes: ['here', 1, true] } },
    client: 'reject',
    server: null,
  },
];

/** The frames of all fixtures, in order. */
export const fixtureFrames: RawFrame[] = fixtures.map((f) => f.frame);
