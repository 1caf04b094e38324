import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PetrelError } from '../../src/domain/errors.js';
import { FrameType, type PushFrame } from '../../src/protocol/index.js';
import { LocalRpc, type RpcCaller } from '../../src/rpc/local-rpc.js';
import type { GatewayService } from '../../src/rpc/gen/index.js';
import type { MessageTrace } from '../../src/store/message-store.js';
import { RawDevice } from '../support/raw-device.js';
import { startTestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

interface Calc {
  add(a: number, b: number): Promise<number>;
  refuse(): Promise<void>;
  crash(): Promise<void>;
  hang(): Promise<void>;
}

describe('LocalRpc: a handler in this process, called as over Thrift', () => {
  const handler = {
    add: (a: number, b: number) => a + b,
    refuse: () => {
      throw new PetrelError('device_not_found', 'no such device');
    },
    crash: () => {
      throw new TypeError('a bug');
    },
    hang: () => new Promise<void>(() => {}),
  };

  it('answers with the handler result, after the caller’s synchronous code', async () => {
    const order: string[] = [];
    const rpc = new LocalRpc<Calc>({ ...handler, add: (a: number, b: number) => (order.push('handler'), a + b) }, 'calc', 1000);
    const answer = rpc.call('add', 2, 3);
    order.push('caller');
    assert.equal(await answer, 5);
    assert.deepEqual(order, ['caller', 'handler']);
  });

  it('a PetrelError keeps its code; anything else is internal, logged through onUnexpected', async () => {
    const unexpected: string[] = [];
    const rpc = new LocalRpc<Calc>(handler, 'calc', 1000, (method) => unexpected.push(method));
    await assert.rejects(rpc.call('refuse'), (err: PetrelError) => err instanceof PetrelError && err.code === 'device_not_found');
    await assert.rejects(rpc.call('crash'), (err: PetrelError) => err instanceof PetrelError && err.code === 'internal' && !err.message.includes('a bug'));
    assert.deepEqual(unexpected, ['crash']);
  });

  it('a handler that does not answer in time fails with rpc_timeout, as over Thrift', async () => {
    const rpc = new LocalRpc<Calc>(handler, 'calc', 50);
    const started = Date.now();
    await assert.rejects(rpc.call('hang'), (err: PetrelError) => err instanceof PetrelError && err.code === 'rpc_timeout');
    assert.ok(Date.now() - started < 1000);
  });

  it('petrel all (rpc.inProcess): deliveries, broadcasts and ACK reports go to the handlers of this process, not through a socket', async () => {
    const stack = await startTestStack({ gateways: 2, overrides: { rpc: { inProcess: true } } });
    try {
      const { gateways, dispatchers } = stack.rt.local;
      assert.equal(gateways.size, 2);
      assert.equal(dispatchers.size, 1);
      // Spies on what the tiers call of each other in process.
      const calls: string[] = [];
      const spy = <C>(map: Map<string, RpcCaller<C>>, tier: string) => {
        for (const [id, real] of map) map.set(id, { call: (method, ...args) => (calls.push(`${tier}.${method}`), real.call(method, ...args)) });
      };
      spy<GatewayService.Client>(gateways, 'gateway');
      spy(dispatchers, 'dispatcher');

      for (const [i, gateway] of stack.gateways.entries()) {
        const dev = await RawDevice.connect(gateway.port);
        const creds = await dev.register(stack.app.appId, stack.app.clientKey);
        await dev.hello(creds);
        const res = await stack.api('/v1/messages', { body: { to: { devices: [creds.deviceId] }, data: { gateway: i } } });
        assert.equal(res.status, 202);
        const push = (await dev.nextOf(FrameType.PUSH)) as PushFrame;
        assert.deepEqual(push.data, { gateway: i });
        dev.send({ t: FrameType.ACK, ids: [push.id] });
        await waitFor(async () => ((await stack.api(`/v1/messages/${res.body.id}`)).body as unknown as MessageTrace).counts.delivered === 1, 'ACK counted');
        dev.destroy();
      }
      // A broadcast: one publish per gateway, in process too.
      const devices = await Promise.all(stack.gateways.map(async (gateway) => {
        const dev = await RawDevice.connect(gateway.port);
        await dev.hello(await dev.register(stack.app.appId, stack.app.clientKey));
        return dev;
      }));
      const all = await stack.api('/v1/messages', { body: { to: { all: true }, data: 'everyone' } });
      assert.equal(all.status, 202);
      for (const dev of devices) {
        assert.equal(((await dev.nextOf(FrameType.PUSH)) as PushFrame).id, all.body.id);
        dev.destroy();
      }
      assert.ok(calls.filter((c) => c === 'gateway.publish').length >= 2, `publishes in process: ${calls.join(', ')}`);
      assert.ok(calls.filter((c) => c === 'gateway.deliver').length >= 2, `deliveries in process: ${calls.join(', ')}`);
      assert.ok(calls.includes('dispatcher.report'), `reports in process: ${calls.join(', ')}`);
    } finally {
      await stack.close();
    }
    // Each tier left the map as its RPC server closed.
    assert.equal(stack.rt.local.gateways.size + stack.rt.local.dispatchers.size, 0);
  });
});
