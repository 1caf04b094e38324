// Both services over real sockets: what the caller sends is what the handler gets, and
// a handler's failure reaches the caller with its stable code.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Int64 } from 'thrift';
import { PetrelError } from '../../src/domain/errors.js';
import {
  AckReport,
  Delivery,
  DispatchService,
  GatewayService,
  LogEntry,
  Notification,
  OpenedReport,
  ReportBatch,
  RpcError,
  SendRequest,
  SessionEvent,
  SessionEventKind,
  SubscriptionChange,
} from '../../src/rpc/gen/index.js';
import { RpcPool } from '../../src/rpc/rpc-pool.js';
import { startThriftServer, type ThriftServer } from '../../src/rpc/thrift-server.js';
import { FakeDispatch, FakeGateway, rejectionOf } from './fixtures.js';

describe('GatewayService over Thrift', () => {
  const gateway = new FakeGateway();
  const serverErrors: Array<{ err: unknown; context: string }> = [];
  let server: ThriftServer;
  let pool: RpcPool<GatewayService.Client>;

  before(async () => {
    server = await startThriftServer({
      service: GatewayService,
      handler: gateway,
      host: '127.0.0.1',
      port: 0,
      onError: (err, context) => serverErrors.push({ err, context }),
    });
    pool = new RpcPool({ client: GatewayService.Client, host: '127.0.0.1', port: server.port, name: 'gateway gw-1' });
  });
  after(async () => {
    await pool.close();
    await server.close();
  });

  it('deliver carries a list of structs with binary, optional and i64 fields', async () => {
    const frame = Buffer.from([0, 0, 0, 3, 0xff, 0x00, 0x80]);
    const result = await pool.call('deliver', [
      new Delivery({ device: 'dev-a', frame, messageId: 'm-1', expiresAt: 1_767_225_600_123 }),
      new Delivery({ device: 'dev-b', session: 'gone', frame: Buffer.alloc(0) }),
    ]);
    assert.deepEqual(result.notConnected, ['dev-b']);

    const [a, b] = gateway.delivered.at(-1)!;
    assert.equal(a!.device, 'dev-a');
    assert.equal(a!.session, undefined);
    assert.deepEqual(a!.frame, frame);
    assert.equal(a!.messageId, 'm-1');
    assert.ok(a!.expiresAt instanceof Int64);
    assert.equal(a!.expiresAt.toNumber(), 1_767_225_600_123);
    assert.equal(b!.session, 'gone');
    assert.equal(b!.frame.length, 0);
    assert.equal(b!.expiresAt, undefined);
  });

  it('publish, kick, drain and stats answer (struct, bool, void)', async () => {
    const entry = new LogEntry({ app: 'app', log: 'topic:news', seq: 42, frame: Buffer.from('abc'), messageId: 'm', expiresAt: new Int64(7) });
    assert.equal((await pool.call('publish', entry)).sent, 3);
    assert.equal(await pool.call('kick', 'dev-a', '', 4006, 'replaced'), true);
    assert.equal(await pool.call('drain'), undefined);
    const stats = await pool.call('stats');
    assert.deepEqual({ ...stats }, { id: 'gw-1', connections: 3, sessions: 2, draining: false });
  });

  it('a PetrelError thrown by the handler reaches the caller with its code', async () => {
    gateway.onDeliver = () => {
      throw new PetrelError('storage_unavailable');
    };
    try {
      const err = await rejectionOf(pool.call('deliver', [new Delivery({ device: 'd', frame: Buffer.alloc(1) })]));
      assert.ok(err instanceof PetrelError);
      assert.equal(err.code, 'storage_unavailable');
      assert.equal(err.status, 503);
      assert.ok(err.cause instanceof RpcError);
    } finally {
      gateway.onDeliver = null;
    }
  });

  it('an unknown remote code, or an error that is not a PetrelError, arrives as internal', async () => {
    gateway.onDeliver = () => {
      throw new RpcError({ code: 'from_a_newer_version', message: 'new failure' });
    };
    try {
      const unknown = await rejectionOf(pool.call('deliver', []));
      assert.ok(unknown instanceof PetrelError);
      assert.equal(unknown.code, 'internal');
      assert.match(unknown.message, /from_a_newer_version: new failure/);

      gateway.onDeliver = () => {
        throw new TypeError('handler bug with secret details');
      };
      const bug = await rejectionOf(pool.call('deliver', []));
      assert.ok(bug instanceof PetrelError);
      assert.equal(bug.code, 'internal');
      assert.doesNotMatch(bug.message, /secret/, 'internal details stay on the serving side');
      assert.ok(serverErrors.some(({ err, context }) => err instanceof TypeError && context === 'handler deliver'));
    } finally {
      gateway.onDeliver = null;
    }
  });

  it('kick, drain and stats carry the error code too (every method declares throws RpcError)', async () => {
    gateway.onKick = () => {
      throw new PetrelError('app_unknown');
    };
    try {
      const err = await rejectionOf(pool.call('kick', 'd', '', 4006, 'r'));
      assert.ok(err instanceof PetrelError);
      assert.equal(err.code, 'app_unknown');
    } finally {
      gateway.onKick = null;
    }
  });

  it('arguments the generated code cannot encode fail locally as internal', async () => {
    const err = await rejectionOf(pool.call('deliver', [{ device: 'd' } as unknown as Delivery]));
    assert.ok(err instanceof PetrelError);
    assert.equal(err.code, 'internal');
    // The connection is still usable afterwards.
    assert.equal((await pool.call('stats')).id, 'gw-1');
  });
});

describe('DispatchService over Thrift', () => {
  const dispatch = new FakeDispatch();
  let server: ThriftServer;
  let pool: RpcPool<DispatchService.Client>;

  before(async () => {
    server = await startThriftServer({ service: DispatchService, handler: dispatch, host: '127.0.0.1', port: 0 });
    pool = new RpcPool({ client: DispatchService.Client, host: '127.0.0.1', port: server.port, size: 1 });
  });
  after(async () => {
    await pool.close();
    await server.close();
  });

  it('report carries nested lists, an enum, an optional field and a map of i64', async () => {
    const batch = new ReportBatch({
      gateway: 'gw-1',
      sessions: [
        new SessionEvent({
          kind: SessionEventKind.ONLINE,
          device: 'dev-a',
          app: 'app',
          session: 's-1',
          cursors: new Map([
            ['topic:news', new Int64(9_007_199_254_740_991)],
            ['broadcast', new Int64(0)],
          ]),
        }),
        new SessionEvent({ kind: SessionEventKind.OFFLINE, device: 'dev-b', app: 'app', session: 's-2', closeCode: 4007 }),
      ],
      acks: [new AckReport({ device: 'dev-a', app: 'app', ids: ['m-1', 'm-2'] })],
      opened: [new OpenedReport({ device: 'dev-a', app: 'app', messageId: 'm-1' })],
      subscriptions: [
        new SubscriptionChange({ ref: 1, device: 'dev-a', app: 'app', topics: ['news'], subscribe: true }),
        new SubscriptionChange({ ref: 2, device: 'dev-a', app: 'app', topics: ['bad topic'], subscribe: false }),
      ],
    });
    const result = await pool.call('report', batch);
    assert.deepEqual(
      result.subscriptions.map((s) => [s.ref, s.error]),
      [
        [1, ''],
        [2, 'topic_invalid'],
      ],
    );

    const got = dispatch.reports.at(-1)!;
    assert.equal(got.gateway, 'gw-1');
    const [online, offline] = got.sessions;
    assert.equal(online!.kind, SessionEventKind.ONLINE);
    assert.equal(online!.closeCode, undefined);
    assert.deepEqual(
      [...online!.cursors!].map(([log, seq]) => [log, seq.toNumber()]),
      [
        ['topic:news', 9_007_199_254_740_991],
        ['broadcast', 0],
      ],
    );
    assert.equal(offline!.kind, SessionEventKind.OFFLINE);
    assert.equal(offline!.closeCode, 4007);
    assert.equal(offline!.cursors, undefined);
    assert.deepEqual(got.acks[0]!.ids, ['m-1', 'm-2']);
    assert.equal(got.opened[0]!.messageId, 'm-1');
    assert.equal(got.subscriptions[1]!.subscribe, false);
  });

  it('send carries an optional nested struct, or leaves it out', async () => {
    const full = new SendRequest({
      app: 'app',
      devices: ['dev-a', 'dev-b'],
      dataJson: '{"k":"v"}',
      notification: new Notification({ title: 'Hi', body: 'Ünïcödé ✓' }),
      ttl: 3600,
      callbackUrl: 'https://example.com/receipts',
    });
    assert.deepEqual({ ...(await pool.call('send', full)) }, { id: 'msg-1', accepted: 2 });
    const minimal = new SendRequest({ app: 'app', aliases: [] });
    assert.equal((await pool.call('send', minimal)).accepted, 0);

    const [gotFull, gotMinimal] = dispatch.sends;
    assert.equal(gotFull!.notification!.body, 'Ünïcödé ✓');
    assert.equal(gotFull!.ttl, 3600);
    assert.equal(gotFull!.callbackUrl, 'https://example.com/receipts');
    assert.equal(gotMinimal!.callbackUrl, undefined);
    assert.equal(gotFull!.accounts, undefined);
    assert.equal(gotMinimal!.notification, undefined);
    assert.deepEqual(gotMinimal!.aliases, []);
    assert.equal(gotMinimal!.devices, undefined);
  });

  it('an RpcError thrown as is keeps its code', async () => {
    dispatch.onSend = () => {
      throw new RpcError({ code: 'app_unknown', message: 'no app "x"' });
    };
    try {
      const err = await rejectionOf(pool.call('send', new SendRequest({ app: 'x' })));
      assert.ok(err instanceof PetrelError);
      assert.equal(err.code, 'app_unknown');
      assert.equal(err.message, 'no app "x"');
    } finally {
      dispatch.onSend = null;
    }
  });
});
