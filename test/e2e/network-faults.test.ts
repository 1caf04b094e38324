import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { MemoryStore, PetrelClient } from '../../sdk-client/src/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { startTestStack, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * A device behind a faulty network (issue #7 item 1): our fault-injecting proxy between
 * the SDK and the gateway adds latency, lets bytes through at a trickle, cuts every
 * connection mid-stream, or freezes the link until both ends give it up. Whatever it does, every message sent reaches the app
 * exactly once. Each test reports lost, duplicated-to-app and recovery time.
 */
describe('network faults between device and gateway: nothing lost, nothing shown twice', () => {
  let stack: TestStack;
  let proxy: FaultProxy;
  let client: PetrelClient;
  /** Times the app was handed each message id. */
  const shown = new Map<string, number>();
  let connects = 0;

  before(async () => {
    // Short heartbeats so that a frozen link is given up in seconds, by both ends.
    stack = await startTestStack({ overrides: { gateway: { heartbeat: { minSec: 1, defaultSec: 5, maxSec: 60, graceSec: 1 } } } });
    proxy = await FaultProxy.start(stack.gateways[0]!.port);
    client = new PetrelClient({
      host: '127.0.0.1', port: proxy.port, appId: stack.app.appId, clientKey: stack.app.clientKey, store: new MemoryStore(),
      heartbeatSec: 2, deadLinkGraceMs: 500, ackDelayMs: 5, backoff: { baseMs: 50, capMs: 300 },
    });
    client.on('message', (m) => shown.set(m.id, (shown.get(m.id) ?? 0) + 1));
    client.on('connected', () => connects++);
    await client.start();
    await client.waitFor('connected');
  });
  after(async () => {
    await client.close();
    await proxy.close();
    await stack.close();
  });

  async function send(n: number): Promise<string> {
    const res = await stack.api('/v1/messages', { body: { to: { devices: [client.deviceId] }, data: { n } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  }

  /** Waits until every id was shown, then reports and checks lost and duplicated. */
  async function settle(t: TestContext, ids: readonly string[], faultAt: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => ids.every((id) => shown.has(id)), 'every message shown', timeoutMs, 20).catch(() => undefined);
    const lost = ids.filter((id) => !shown.has(id)).length;
    const duplicated = ids.filter((id) => (shown.get(id) ?? 0) > 1).length;
    // "key: value" lines: npm run test:faults turns them into docs/reliability.md.
    t.diagnostic(`messages sent: ${ids.length}`);
    t.diagnostic(`lost (sent, never shown): ${lost}`);
    t.diagnostic(`duplicates shown to the app: ${duplicated}`);
    t.diagnostic(`recovery: every message shown: ${((Date.now() - faultAt) / 1000).toFixed(2)} s after the fault began`);
    assert.equal(lost, 0, 'lost');
    assert.equal(duplicated, 0, 'shown twice');
  }

  it('100 ms of added latency each way', async (t) => {
    proxy.set({ kind: 'latency', ms: 100 });
    const started = Date.now();
    const ids = [];
    for (let i = 0; i < 100; i++) ids.push(await send(i));
    await settle(t, ids, started);
    proxy.set({ kind: 'pass' });
  });

  it('a trickle of 1 KB/s each way', async (t) => {
    proxy.set({ kind: 'trickle', bytesPerSec: 1024 });
    const started = Date.now();
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push(await send(i));
    await settle(t, ids, started, 40_000);
    proxy.set({ kind: 'pass' });
  });

  it('every connection cut in the middle of a stream of 300 messages', async (t) => {
    const before = connects;
    const ids = [];
    let cutAt = 0;
    for (let i = 0; i < 300; i++) {
      if (i === 100) {
        proxy.cut();
        cutAt = Date.now();
      }
      ids.push(await send(i));
    }
    await waitFor(() => connects > before, 'the device reconnected', 10_000);
    t.diagnostic(`reconnects: ${connects - before}`);
    await settle(t, ids, cutAt);
  });

  it('a frozen link, given up by both ends, then thawed: what was sent meanwhile arrives once', async (t) => {
    const before = connects;
    proxy.set({ kind: 'freeze' });
    const frozenAt = Date.now();
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push(await send(i));
    // Gateway and SDK both drop a link silent for 1.5 × hb + grace (about 4 s here).
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(ids.filter((id) => shown.has(id)).length, 0, 'nothing got through the freeze');
    proxy.set({ kind: 'pass' });
    await waitFor(() => connects > before, 'the device reconnected after the thaw', 10_000);
    await settle(t, ids, frozenAt);
  });
});
