// The pool's failure behaviour on real sockets: timeouts, a server that dies and comes
// back on the same port, close(); and nothing left open afterwards.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PetrelError } from '../../src/domain/errors.js';
import { DeliverResult, Delivery, GatewayService } from '../../src/rpc/gen/index.js';
import { reconnectDelayMs, RpcPool } from '../../src/rpc/rpc-pool.js';
import { startThriftServer, type ThriftServer } from '../../src/rpc/thrift-server.js';
import { waitFor } from '../support/wait.js';
import { deferred, FakeGateway, rejectionOf } from './fixtures.js';

const host = '127.0.0.1';
const fast = { callTimeoutMs: 150, connectTimeoutMs: 500, reconnectBaseMs: 20, reconnectMaxMs: 80 };
const closers: Array<() => Promise<void>> = [];

async function gatewayServer(gateway: FakeGateway, port = 0): Promise<ThriftServer> {
  const server = await startThriftServer({ service: GatewayService, handler: gateway, host, port });
  closers.push(() => server.close());
  return server;
}

function gatewayPool(port: number, size = 2): RpcPool<GatewayService.Client> {
  const pool = new RpcPool({ client: GatewayService.Client, host, port, size, ...fast });
  closers.push(() => pool.close());
  return pool;
}

/**
 * A one-connection pool to a fake gateway whose client class keeps every instance the
 * pool creates (one per connection it opens).
 */
async function recordingPool(): Promise<{ gateway: FakeGateway; pool: RpcPool<GatewayService.Client>; clients: GatewayService.Client[] }> {
  const clients: GatewayService.Client[] = [];
  class RecordingClient extends GatewayService.Client {
    constructor(...args: ConstructorParameters<typeof GatewayService.Client>) {
      super(...args);
      clients.push(this);
    }
  }
  const gateway = new FakeGateway();
  const server = await gatewayServer(gateway);
  const pool = new RpcPool({ client: RecordingClient, host, port: server.port, size: 1, ...fast });
  closers.push(() => pool.close());
  return { gateway, pool, clients };
}

function assertCode(err: unknown, code: string): void {
  assert.ok(err instanceof PetrelError, `expected a PetrelError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
}

after(async () => {
  for (const close of closers.reverse()) await close();
  // Every socket and listener of these tests is closed, so the test process can exit.
  // (libuv drops a closed handle from this list a loop turn or two after close.)
  const openTcp = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
  await waitFor(() => openTcp().length === 0, 'sockets to close', 1000).catch(() => {});
  assert.deepEqual(openTcp(), [], 'sockets left open');
});

describe('RpcPool', () => {
  it('opens its connections lazily and uses them in turn', async () => {
    const server = await gatewayServer(new FakeGateway());
    const pool = gatewayPool(server.port, 2);
    assert.equal(pool.connectedCount, 0);
    await pool.call('stats');
    assert.equal(pool.connectedCount, 1);
    await Promise.all([pool.call('stats'), pool.call('stats'), pool.call('stats')]);
    assert.equal(pool.connectedCount, 2);
  });

  it('rejects a call with no reply in time with rpc_timeout; a late reply is dropped', async () => {
    const gateway = new FakeGateway();
    const server = await gatewayServer(gateway);
    const pool = gatewayPool(server.port, 1);
    const late = deferred<DeliverResult>();
    gateway.onDeliver = () => late.promise;

    const started = Date.now();
    const slow = rejectionOf(pool.call('deliver', [new Delivery({ device: 'slow', frame: Buffer.alloc(1) })]));
    // A prompt reply meanwhile: the link is alive, so the timeout keeps the connection.
    await pool.call('stats');
    const err = await slow;
    assertCode(err, 'rpc_timeout');
    assert.ok(Date.now() - started < 1000);

    // The reply arrives after the timeout, on the same connection as the next call: that
    // call gets its own answer, not the stale one.
    gateway.onDeliver = null;
    late.resolve(new DeliverResult({ notConnected: ['stale'] }));
    const fresh = await pool.call('deliver', [new Delivery({ device: 'd', session: 'gone', frame: Buffer.alloc(1) })]);
    assert.deepEqual(fresh.notConnected, ['d']);
  });

  it('leaves no callbacks behind in the generated client, even for a reply after its timeout', async () => {
    // thrift's Connection files a forwarding callback under _reqs[-seqid] for every reply
    // and never removes it; the pool does.
    const { gateway, pool, clients } = await recordingPool();
    for (let i = 0; i < 5; i += 1) await pool.call('stats');
    const late = deferred<DeliverResult>();
    gateway.onDeliver = () => late.promise;
    const slow = rejectionOf(pool.call('deliver', []));
    await pool.call('stats');
    assertCode(await slow, 'rpc_timeout');
    gateway.onDeliver = null;
    late.resolve(new DeliverResult({ notConnected: [] }));
    await pool.call('stats');
    assert.equal(clients.length, 1);
    assert.deepEqual(Object.keys(clients[0]!._reqs), []);
  });

  it('drops a connection that stayed silent for a whole call timeout (half-open) and opens a new one', async () => {
    const { gateway, pool, clients } = await recordingPool();
    await pool.call('stats');
    const never = deferred<DeliverResult>();
    gateway.onDeliver = () => never.promise;
    // Two calls wait on the silent link: the first to time out drops it, failing the other.
    const [first, second] = await Promise.all([rejectionOf(pool.call('deliver', [])), rejectionOf(pool.call('deliver', []))]);
    assertCode(first, 'rpc_timeout');
    assert.ok(second instanceof PetrelError && ['rpc_timeout', 'rpc_unavailable'].includes(second.code), String(second));
    gateway.onDeliver = null;
    await waitFor(() => pool.connectedCount === 1, 'the pool to reconnect', 2000);
    assert.deepEqual((await pool.call('deliver', [new Delivery({ device: 'd', session: 'gone', frame: Buffer.alloc(1) })])).notConnected, ['d']);
    assert.equal(clients.length, 2, 'a second connection was opened');
  });

  it('fails fast with rpc_unavailable while the server is down, and reconnects when it is back', async () => {
    const gateway = new FakeGateway();
    const first = await gatewayServer(gateway);
    const port = first.port;
    const pool = gatewayPool(port, 2);
    await Promise.all([pool.call('stats'), pool.call('stats')]);
    assert.equal(pool.connectedCount, 2);

    // A call in flight when the server goes away is rejected, not left hanging.
    const never = deferred<DeliverResult>();
    gateway.onDeliver = () => never.promise;
    const inFlight = rejectionOf(pool.call('deliver', []));
    await waitFor(() => gateway.delivered.length === 1, 'the call to reach the server');
    await first.close();
    assertCode(await inFlight, 'rpc_unavailable');
    gateway.onDeliver = null;

    await waitFor(() => pool.connectedCount === 0, 'the pool to see both connections drop');
    const started = Date.now();
    assertCode(await rejectionOf(pool.call('stats')), 'rpc_unavailable');
    assert.ok(Date.now() - started < 50, 'no wait for a reconnect');

    await gatewayServer(gateway, port);
    await waitFor(() => pool.connectedCount === 2, 'the pool to reconnect', 2000);
    assert.equal((await pool.call('stats')).id, 'gw-1');
  });

  it('a server that was never up fails the first call with rpc_unavailable', async () => {
    const server = await gatewayServer(new FakeGateway());
    const port = server.port;
    await server.close();
    const pool = gatewayPool(port, 2);
    assertCode(await rejectionOf(pool.call('stats')), 'rpc_unavailable');
  });

  it('close() rejects calls in flight and every later call', async () => {
    const gateway = new FakeGateway();
    const server = await gatewayServer(gateway);
    const pool = gatewayPool(server.port, 1);
    gateway.onDeliver = () => deferred<DeliverResult>().promise;
    const inFlight = rejectionOf(pool.call('deliver', []));
    await waitFor(() => gateway.delivered.length === 1, 'the call to reach the server');
    await pool.close();
    assertCode(await inFlight, 'rpc_unavailable');
    assertCode(await rejectionOf(pool.call('stats')), 'rpc_unavailable');
  });
});

describe('reconnectDelayMs', () => {
  it('doubles from the base up to the cap, with half of it jittered', () => {
    const low = () => 0;
    const high = () => 1;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => reconnectDelayMs(n, 100, 1000, high)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => reconnectDelayMs(n, 100, 1000, low)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.equal(reconnectDelayMs(10_000, 100, 1000, high), 1000);
  });
});
