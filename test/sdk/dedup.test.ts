import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_DEDUP_CAPACITY, MemoryStore, SeenMessageIds } from '../../sdk-client/src/index.js';
import { DeliveryLedger } from '../../sdk-client/src/delivery-ledger.js';

describe('SeenMessageIds', () => {
  it('defaults to 2,000 ids', () => {
    assert.equal(DEFAULT_DEDUP_CAPACITY, 2_000);
    const seen = new SeenMessageIds();
    for (let i = 0; i < 2_500; i++) seen.add(`m${i}`);
    assert.equal(seen.size, 2_000);
    assert.ok(!seen.has('m499') && seen.has('m500') && seen.has('m2499'));
  });

  it('reports duplicates and evicts in insertion order', () => {
    const seen = new SeenMessageIds(3);
    assert.equal(seen.add('a'), true);
    assert.equal(seen.add('b'), true);
    assert.equal(seen.add('a'), false, 'duplicate');
    assert.equal(seen.add('c'), true);
    assert.equal(seen.add('d'), true);
    // 'a' was seen first; re-seeing it did not refresh it.
    assert.deepEqual(seen.toArray(), ['b', 'c', 'd']);
    assert.equal(seen.has('a'), false);
    seen.add('e');
    assert.deepEqual(seen.toArray(), ['c', 'd', 'e']);
  });

  it('round-trips through toArray/from, keeping the newest when capacity shrinks', () => {
    const seen = new SeenMessageIds(5);
    for (const id of ['a', 'b', 'c', 'd', 'e']) seen.add(id);
    assert.deepEqual(SeenMessageIds.from(seen.toArray(), 5).toArray(), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(SeenMessageIds.from(seen.toArray(), 2).toArray(), ['d', 'e']);
  });

  it('rejects a capacity below 1', () => {
    assert.throws(() => new SeenMessageIds(0), RangeError);
  });
});

describe('DeliveryLedger persistence', () => {
  it('persists seen ids and log cursors and restores them', async () => {
    const store = new MemoryStore();
    const ledger = new DeliveryLedger(store, 'app1', 3);
    await ledger.adoptCredentials('dev1', 'secret1');
    assert.equal(ledger.recordPush('m1'), true);
    assert.equal(ledger.recordPush('m2', 'news', 7), true);
    assert.equal(ledger.recordPush('m3', 'news', 5), true);
    assert.equal(ledger.recordPush('m4'), true);
    assert.equal(ledger.recordPush('m4'), false);
    await ledger.flush();
    const saved = await store.load();
    assert.deepEqual(saved, { appId: 'app1', dev: 'dev1', secret: 'secret1', cursors: { news: 7 }, seen: ['m2', 'm3', 'm4'] });

    const reloaded = new DeliveryLedger(store, 'app1', 3);
    await reloaded.load();
    assert.deepEqual(reloaded.credentials, { dev: 'dev1', secret: 'secret1' });
    assert.equal(reloaded.recordPush('m3'), false, 'seen before the restart');
    assert.equal(reloaded.recordPush('m1'), true, 'evicted before the restart');
    assert.deepEqual(reloaded.cursorMap(), { news: 7 });
  });

  it('coalesces saves: a burst costs at most two writes', async () => {
    let saves = 0;
    const inner = new MemoryStore();
    const store = {
      load: () => inner.load(),
      save: async (s: Parameters<MemoryStore['save']>[0]) => {
        saves++;
        await new Promise((r) => setTimeout(r, 5));
        await inner.save(s);
      },
    };
    const ledger = new DeliveryLedger(store, 'app1', 100);
    await ledger.adoptCredentials('dev1', 'secret1');
    saves = 0;
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      ledger.recordPush(`m${i}`);
      flushes.push(ledger.flush());
    }
    await Promise.all(flushes);
    assert.ok(saves <= 2, `saves: ${saves}`);
    assert.equal((await inner.load())?.seen.length, 20);
  });

  it('ignores state saved for another app', async () => {
    const store = new MemoryStore({ appId: 'other', dev: 'd', secret: 's', cursors: {}, seen: [] });
    const ledger = new DeliveryLedger(store, 'app1', 10);
    await ledger.load();
    assert.equal(ledger.credentials, null);
  });
});
