// Network faults between the tiers (issue #7 item 1): our fault-injecting proxy sits in
// front of both Thrift listeners of a real deployment — the gateway's GatewayService
// (dispatchers deliver and publish through it) and the dispatcher's DispatchService (the
// gateway's reports: ACKs, presence, SUB/UNSUB). Each tier announces the proxy's port in
// the registry (`…_ADVERTISE_PORT`), so every call between them crosses it, while the
// devices talk to the gateway directly. Whatever the proxies do, every message the API
// answered 202 for reaches its app exactly once and every ACK settles its inbox.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { AppStore } from '../../src/store/app-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import { FaultProxy, type Fault } from '../support/fault-proxy.js';
import type { PetrelProcess } from '../support/petrel-process.js';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import {
  AcceptedLog, ApiSender, ProcessGroup, TestDevice, connectDevices, forEachConcurrently, freePort, tail, tierEnv,
} from '../support/send-load.js';
import { waitFor } from '../support/wait.js';

const DEVICES = 20;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

describe('network faults between the tiers (Thrift through a proxy): nothing lost, nothing shown twice', () => {
  const prefix = uniquePrefix('faults-tiers');
  const keys = new RedisKeys(prefix);
  let redis: Redis;
  let group: ProcessGroup;
  let toGateway: FaultProxy;
  let toDispatcher: FaultProxy;
  let processes: Record<string, PetrelProcess> = {};
  let devices: TestDevice[] = [];
  let sender: ApiSender;
  const accepted = new AcceptedLog();

  before(async () => {
    redis = createTestRedis();
    const created = await new AppStore(redis, keys).create('tier network fault test');
    const [gatewayRpcPort, dispatchPort] = await Promise.all([freePort(), freePort()]);
    [toGateway, toDispatcher] = await Promise.all([FaultProxy.start(gatewayRpcPort), FaultProxy.start(dispatchPort)]);
    group = new ProcessGroup(tierEnv({ redisUrl: testRedisUrl(), prefix, deviceKey: randomBytes(32).toString('base64') }));
    const [gateway, dispatcher, api] = await Promise.all([
      group.start('gateway', { PETREL_GATEWAY_RPC_PORT: String(gatewayRpcPort), PETREL_GATEWAY_RPC_ADVERTISE_PORT: String(toGateway.port) }),
      group.start('dispatcher', { PETREL_DISPATCH_PORT: String(dispatchPort), PETREL_DISPATCH_ADVERTISE_PORT: String(toDispatcher.port) }),
      group.start('api'),
    ]);
    processes = { gateway, dispatcher, api };
    devices = await connectDevices(DEVICES, gateway.port('tcp'), { appId: created.app.id, clientKey: created.app.clientKey });
    sender = new ApiSender(api.port('http'), created.serverSecret);
  });

  after(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await group?.killAll();
    await Promise.all([toGateway?.close(), toDispatcher?.close()]);
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  const both = (fault: Fault) => {
    toGateway.set(fault);
    toDispatcher.set(fault);
  };

  /** `n` messages, round-robin over the devices, 10 in flight; `during(i)` runs before the i-th. */
  async function stream(n: number, during: (i: number) => void | Promise<void> = () => {}): Promise<string[]> {
    const ids: string[] = [];
    let i = 0;
    await forEachConcurrently(Array.from({ length: n }, (_, k) => k), 10, async (k) => {
      await during(i++);
      const device = devices[k % DEVICES]!;
      const r = await sender.send(device.deviceId, { k });
      assert.equal(r.status, 202, `the API accepts whatever the tiers' links do: ${JSON.stringify(r)}`);
      accepted.add(r.id!, device);
      ids.push(r.id!);
    });
    return ids;
  }

  /** Waits for every message shown and every inbox emptied by ACKs; reports and checks. */
  async function settle(t: TestContext, faultAt: number, timeoutMs = 40_000): Promise<void> {
    const shown = await waitFor(() => accepted.tally(devices).missing === 0, 'every accepted message shown', timeoutMs, 20).catch(() => -1);
    const shownAt = performance.now();
    const acked = await waitFor(async () => {
      const sizes = await Promise.all(devices.map((d) => redis.zcard(keys.inbox(d.deviceId))));
      return sizes.every((n) => n === 0);
    }, 'every inbox emptied by ACKs', timeoutMs, 50).catch(() => -1);
    const result = accepted.tally(devices);
    // "key: value" lines: npm run test:faults turns them into docs/reliability.md.
    t.diagnostic(`messages accepted (202): ${accepted.size} so far`);
    t.diagnostic(`Thrift connections opened through the proxies: to gateway ${toGateway.accepted}, to dispatcher ${toDispatcher.accepted}`);
    t.diagnostic(`lost (accepted, never shown): ${result.missing}`);
    t.diagnostic(`duplicates shown to apps: ${result.duplicates}`);
    t.diagnostic(`recovery: every message shown: ${shown < 0 ? 'never' : seconds(shownAt - faultAt)} after the fault began`);
    t.diagnostic(`every ACK settled (inboxes empty): ${acked < 0 ? 'never' : seconds(performance.now() - faultAt)} after the fault began`);
    const context = Object.entries(processes).map(([name, p]) => `--- ${name}:\n${tail(p)}`).join('\n');
    assert.equal(result.missing, 0, `lost\n${context}`);
    assert.equal(result.duplicates, 0, 'shown twice');
    assert.ok(acked >= 0, `ACKs settled\n${context}`);
    for (const device of devices) assert.deepEqual(device.errors, [], `SDK errors on ${device.deviceId}`);
  }

  it('200 ms of added latency each way on both Thrift links', async (t) => {
    both({ kind: 'latency', ms: 200 });
    const started = performance.now();
    await stream(300);
    await settle(t, started);
    both({ kind: 'pass' });
  });

  it('every Thrift connection cut, three times in a stream of 600 messages', async (t) => {
    const opened = toGateway.accepted + toDispatcher.accepted;
    let cutAt = 0;
    await stream(600, (i) => {
      if (i % 200 !== 100) return;
      toGateway.cut();
      toDispatcher.cut();
      cutAt ||= performance.now();
    });
    await settle(t, cutAt);
    assert.ok(toGateway.accepted + toDispatcher.accepted > opened, 'the tiers reconnected through the proxies');
  });

  it('both Thrift links frozen for 8 s (past the 5 s call timeout), then thawed', async (t) => {
    both({ kind: 'freeze' });
    const frozenAt = performance.now();
    const ids = await stream(200);
    await new Promise((r) => setTimeout(r, 8000 - (performance.now() - frozenAt)));
    const through = ids.filter((id) => accepted.devices.get(id)!.shown.has(id)).length;
    t.diagnostic(`shown while frozen: ${through} of ${ids.length}`);
    both({ kind: 'pass' });
    await settle(t, frozenAt);
  });

  it('every Thrift connection gone half-open for good (bytes vanish, no reset): the tiers give them up and reconnect', async (t) => {
    const opened = toGateway.accepted + toDispatcher.accepted;
    let blackholedAt = 0;
    await stream(200, (i) => {
      if (i !== 50) return;
      toGateway.blackholeOpen();
      toDispatcher.blackholeOpen();
      blackholedAt = performance.now();
    });
    await settle(t, blackholedAt);
    t.diagnostic(`Thrift connections reopened: ${toGateway.accepted + toDispatcher.accepted - opened}`);
    assert.ok(toGateway.accepted + toDispatcher.accepted > opened, 'the tiers opened new connections');
  });

  it('both Thrift links at a trickle of 20 KB/s each way', async (t) => {
    both({ kind: 'trickle', bytesPerSec: 20 * 1024 });
    const started = performance.now();
    await stream(300);
    await settle(t, started, 60_000);
    both({ kind: 'pass' });
  });
});
