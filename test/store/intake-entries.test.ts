import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeTime } from 'ulid';
import type { Redis } from 'ioredis';
import { newMessageId } from '../../src/domain/message.js';
import { BroadcastLog } from '../../src/store/broadcast-log.js';
import { decodeIntakeEntry, intakeBucketOf, storedAsIntakeEntry } from '../../src/store/intake-entry.js';
import { RedisKeys } from '../../src/store/keys.js';
import { MessageStore, type NewMessage } from '../../src/store/message-store.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

const RETENTION_MS = 60_000;

describe('intake entries: immediate unicast messages before their fan-out', () => {
  let redis: Redis;
  let keys: RedisKeys;
  let store: MessageStore;
  before(() => {
    redis = createTestRedis();
    keys = new RedisKeys(uniquePrefix('intake'));
    store = new MessageStore(redis, keys, new TurnPipeline(redis), RETENTION_MS);
  });
  after(async () => {
    await cleanupPrefix(redis, keys.prefix);
    await redis.quit();
  });

  function message(over: Partial<NewMessage> = {}): NewMessage {
    const now = Date.now();
    const id = over.id ?? newMessageId(now);
    return {
      id, appId: 'app-1', target: { kind: 'aliases', ids: ['a', 'b'] }, ts: now, exp: now + 3_600_000,
      frame: Buffer.from([0x92, 0x01, 0xc4, 0x03, 0xff, 0x00, 0x80, ...Buffer.from(id)]), accepted: 2, ...over,
    };
  }

  const fanOut = (m: NewMessage) => store.dispatched([{ message: m, counts: { targeted: 2, failed: 0, dropped: 0 }, initial: null }]);

  it('packs and unpacks every field, binary frames and optional fields included', async () => {
    const full = message({ collapseId: 'score', callbackUrl: 'https://example.com/r', priority: 'high', target: { kind: 'aliases', ids: ['ünï "quoted"', 'b\\c'] } });
    const bare = message();
    await store.create([full, bare]);
    const entry = (m: NewMessage) => redis.hgetBuffer(keys.intake(intakeBucketOf(m.id)), m.id);
    const fullEntry = await entry(full);
    assert.ok(fullEntry);
    assert.deepEqual(decodeIntakeEntry(full.id, fullEntry), {
      message: { id: full.id, appId: full.appId, target: full.target, ts: full.ts, exp: full.exp, frame: full.frame, collapseId: 'score', callbackUrl: 'https://example.com/r' },
      priority: 'high',
      expireAt: full.exp + RETENTION_MS,
    });
    const back = decodeIntakeEntry(bare.id, (await entry(bare))!);
    assert.ok(back && !('collapseId' in back.message) && !('callbackUrl' in back.message) && !('priority' in back));
    assert.equal(decodeIntakeEntry(full.id, Buffer.from('not an entry')), null);
    assert.equal(decodeIntakeEntry(full.id, fullEntry.subarray(0, 20)), null);
  });

  it('takes immediate unicast messages only', () => {
    assert.equal(storedAsIntakeEntry(message()), true);
    assert.equal(storedAsIntakeEntry(message({ sendAt: Date.now() + 60_000 })), false, 'scheduled: cancellable on its hash');
    assert.equal(storedAsIntakeEntry(message({ campaignId: 'c1' })), false, 'a campaign chunk, even with a ULID id');
    assert.equal(storedAsIntakeEntry(message({ id: 'c1-chunk-0' })), false, 'an id that does not name its bucket');
    assert.equal(storedAsIntakeEntry(message({ target: { kind: 'topic', topic: 'news' } })), false);
  });

  it('buckets ids by 32 ms of their time', () => {
    const id = (ms: number) => `${encodeTime(ms, 10)}${'0'.repeat(16)}`;
    const start = 1_796_000_000_000 - (1_796_000_000_000 % 32);
    assert.equal(intakeBucketOf(id(start)), intakeBucketOf(id(start + 31)));
    assert.notEqual(intakeBucketOf(id(start)), intakeBucketOf(id(start - 1)));
    assert.notEqual(intakeBucketOf(id(start)), intakeBucketOf(id(start + 32)));
  });

  it('writes one field per message, in a bucket per 32 ms of ids, with the latest expiry', async () => {
    const now = Date.now();
    const short = message({ id: newMessageId(now), exp: now + 10_000 });
    const long = message({ id: newMessageId(now), exp: now + 7_200_000 });
    const shortAgain = message({ id: newMessageId(now), exp: now + 20_000 });
    const bucket = keys.intake(intakeBucketOf(short.id));
    const before = await redis.hlen(bucket);
    await store.create([short, long]);
    await store.create([shortAgain]);
    assert.equal(intakeBucketOf(long.id), intakeBucketOf(short.id));
    assert.equal(await redis.hlen(bucket), before + 3);
    assert.equal(await redis.exists(keys.message(short.id)), 0, 'no hash before the fan-out');
    assert.equal(await redis.pexpiretime(bucket), long.exp + RETENTION_MS, 'a later write with a sooner expiry does not shorten it');
    const outbox = await redis.zrange(keys.sendOutbox(), 0, -1, 'WITHSCORES');
    for (const m of [short, long, shortAgain]) assert.equal(outbox[outbox.indexOf(m.id) + 1], String(m.ts), 'in the outbox by accept time');
  });

  it('stores a flush of thousands in chunks the script can unpack, beside hashes and an idempotency record', async () => {
    // One bucket: 20,000 values for its HSET, past what Lua's unpack takes at once.
    const now = Date.now();
    const many = Array.from({ length: 10_000 }, () => message({ id: newMessageId(now), ts: now }));
    const scheduled = message({ sendAt: now + 60_000 });
    await store.create([...many.slice(0, 5_000), scheduled, ...many.slice(5_000)], [{ key: `${keys.prefix}test-idem`, value: 'answer', ttlMs: 60_000 }]);
    assert.equal(await redis.get(`${keys.prefix}test-idem`), 'answer');
    assert.equal(await redis.hget(keys.message(scheduled.id), 'state'), 'scheduled');
    const stored = await Promise.all(many.map((m) => redis.hexists(keys.intake(intakeBucketOf(m.id)), m.id)));
    assert.equal(stored.filter((x) => x === 1).length, many.length);
    const scores = await redis.zmscore(keys.sendOutbox(), ...many.map((m) => m.id));
    assert.deepEqual(scores, many.map((m) => String(m.ts)));
  });

  it('turns into the same hash a message written as a hash has, at its first fan-out, and leaves the bucket', async () => {
    const now = Date.now();
    const opts = { collapseId: 'k', callbackUrl: 'https://example.com/cb', priority: 'high' as const };
    const entry = message({ ...opts, id: newMessageId(now) });
    // The same message written as a hash (a campaign-style id is never an intake entry).
    const hashed = { ...entry, id: `hash-${entry.id}` };
    assert.equal(storedAsIntakeEntry(hashed), false);
    await store.create([entry, hashed]);
    assert.deepEqual(await fanOut(entry), { first: new Set([entry.id]), gone: new Set() });
    assert.deepEqual(await fanOut(hashed), { first: new Set([hashed.id]), gone: new Set() });
    const [a, b] = await Promise.all([redis.hgetallBuffer(keys.message(entry.id)), redis.hgetallBuffer(keys.message(hashed.id))]);
    delete a['fanout'];
    delete b['fanout'];
    assert.deepEqual(a, b);
    assert.equal(a['frame']?.equals(entry.frame), true, 'binary frame intact');
    assert.equal(await redis.pexpiretime(keys.message(entry.id)), await redis.pexpiretime(keys.message(hashed.id)));
    assert.equal(await redis.hexists(keys.intake(intakeBucketOf(entry.id)), entry.id), 0);
    assert.deepEqual(await fanOut(entry), { first: new Set(), gone: new Set() }, 'a re-run fan-out is not a first one');
  });

  it('is read by the send job, the trace and the outbox poll before its fan-out', async () => {
    await redis.del(keys.sendOutbox());
    const m = message({ priority: 'high', callbackUrl: 'https://example.com/cb' });
    await store.create([m]);
    const { messages, gone } = await store.loadForDispatch([m.id]);
    assert.deepEqual(gone, []);
    assert.deepEqual(messages, [{ id: m.id, appId: m.appId, target: m.target, ts: m.ts, exp: m.exp, frame: m.frame, callbackUrl: 'https://example.com/cb' }]);
    const trace = await store.trace('app-1', m.id);
    assert.equal(trace?.state, 'accepted');
    assert.equal(trace?.acceptedAt, m.ts);
    assert.equal(trace?.expiresAt, m.exp);
    assert.equal(await store.trace('app-2', m.id), null, 'another app\'s message is not found');
    const unqueued = await store.unqueued(Date.now() + 1, 100);
    assert.deepEqual(unqueued.find((e) => e.id === m.id), { id: m.id, state: 'accepted', pushed: false, priority: 'high' });
    await fanOut(m);
    assert.equal((await store.trace('app-1', m.id))?.state, 'dispatched');
    assert.equal((await store.loadForDispatch([m.id])).messages[0]?.frame.equals(m.frame), true);
  });

  it('answers cancel and revoke like the hash it will become', async () => {
    const m = message();
    await store.create([m]);
    assert.equal(await store.cancel('app-1', m.id), 'too_late', 'an immediate message is never cancellable');
    assert.equal(await store.cancel('app-2', m.id), 'not_found');
    const log = new BroadcastLog(redis, keys, new TurnPipeline(redis), 1000);
    assert.equal(await log.revoke('app-1', m.id), 'not_broadcast');
    assert.equal(await log.revoke('app-2', m.id), 'not_found');
    assert.equal(await redis.hexists(keys.intake(intakeBucketOf(m.id)), m.id), 1, 'left as it was');
  });

  it('is gone once past its own expiry and retention, though its bucket lives on for a later message', async () => {
    const now = Date.now();
    const lapsed = message({ id: newMessageId(now), ts: now - 120_000, exp: now - RETENTION_MS - 1 });
    const later = message({ id: newMessageId(now) });
    await store.create([lapsed, later]);
    assert.equal(await redis.hexists(keys.intake(intakeBucketOf(lapsed.id)), lapsed.id), 1);
    assert.deepEqual(await store.loadForDispatch([lapsed.id]), { messages: [], gone: [lapsed.id] });
    assert.equal(await store.trace('app-1', lapsed.id), null);
    assert.equal(await store.cancel('app-1', lapsed.id), 'not_found');
    assert.deepEqual(await fanOut(lapsed), { first: new Set(), gone: new Set([lapsed.id]) }, 'not fanned out: gone');
    assert.equal(await redis.exists(keys.message(lapsed.id)), 0, 'no hash, and no stub without expiry');
    assert.equal(await redis.hexists(keys.intake(intakeBucketOf(lapsed.id)), lapsed.id), 0, 'the entry is deleted');
    assert.equal((await store.loadForDispatch([later.id])).messages.length, 1);
  });

  it('is gone once its bucket expires, like a hash past its trace retention', async () => {
    const m = message();
    await store.create([m]);
    await redis.pexpire(keys.intake(intakeBucketOf(m.id)), 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await store.loadForDispatch([m.id]), { messages: [], gone: [m.id] });
    assert.equal(await store.trace('app-1', m.id), null);
    assert.deepEqual(await fanOut(m), { first: new Set(), gone: new Set([m.id]) }, 'no hash made for a message that is gone');
    assert.equal(await redis.exists(keys.message(m.id)), 0);
  });
});
