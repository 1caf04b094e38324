import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { AppStore, hashSecret } from '../../src/store/app-store.js';
import { BroadcastLog } from '../../src/store/broadcast-log.js';
import { DeviceStore } from '../../src/store/device-store.js';
import { InboxStore } from '../../src/store/inbox-store.js';
import { MessageStore } from '../../src/store/message-store.js';
import { TurnPipeline } from '../../src/store/turn-pipeline.js';
import { RedisKeys } from '../../src/store/keys.js';
import { cleanupPrefix, createTestRedis, uniquePrefix } from '../support/redis.js';

describe('app and device stores', () => {
  let redis: Redis;
  let keys: RedisKeys;
  before(() => {
    redis = createTestRedis();
    keys = new RedisKeys(uniquePrefix('stores'));
  });
  after(async () => {
    await cleanupPrefix(redis, keys.prefix);
    await redis.quit();
  });

  it('keeps only a hash of the server secret and verifies it', async () => {
    const apps = new AppStore(redis, keys);
    const { app, serverSecret } = await apps.create('shop');
    assert.equal(await apps.verifyServerSecret(app.id, serverSecret), true);
    assert.equal(await apps.verifyServerSecret(app.id, serverSecret + 'x'), false);
    assert.equal(await apps.verifyServerSecret('no-such-app', serverSecret), false);
    const stored = JSON.stringify([await redis.hgetall(keys.app(app.id)), await redis.hgetall(keys.appSecrets(app.id))]);
    assert.ok(!stored.includes(serverSecret), 'the secret itself is not stored');
  });

  it('rotates server secrets: the old one works through the overlap window, then lapses', async () => {
    const apps = new AppStore(redis, keys);
    const { app, serverSecret: first, secretId } = await apps.create('rotating');
    const kept = await apps.issueServerSecret(app.id);
    assert.ok(kept);
    assert.equal((await apps.appOfServerSecret(kept.secret))?.id, app.id);
    assert.equal((await apps.appOfServerSecret(first))?.id, app.id, 'issuing alone retires nothing');

    const rotated = await apps.issueServerSecret(app.id, { retireOthersAfterMs: 300 });
    assert.ok(rotated);
    const listed = await apps.serverSecrets(app.id);
    assert.deepEqual(listed.map((s) => s.id).sort(), [secretId, kept.id, rotated.id].sort());
    assert.ok(listed.filter((s) => s.id !== rotated.id).every((s) => s.expiresAt !== null), 'the others are scheduled to retire');
    assert.equal((await apps.appOfServerSecret(first))?.id, app.id, 'still valid inside the overlap window');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await apps.appOfServerSecret(first), null);
    assert.equal(await apps.appOfServerSecret(kept.secret), null);
    assert.equal((await apps.appOfServerSecret(rotated.secret))?.id, app.id);
    assert.deepEqual((await apps.serverSecrets(app.id)).map((s) => s.id), [rotated.id], 'lapsed secrets are pruned from the listing');

    assert.equal(await apps.revokeServerSecret(app.id, rotated.id), true);
    assert.equal(await apps.appOfServerSecret(rotated.secret), null, 'revoked at once');
    assert.equal(await apps.revokeServerSecret(app.id, rotated.id), false);
    assert.equal(await apps.issueServerSecret('no-such-app'), null);
  });

  it('adopts the single secret of an app made before rotation, so it can be retired like the others', async () => {
    const apps = new AppStore(redis, keys);
    const { app, serverSecret } = await apps.create('legacy');
    // The layout of before: the hash in the app hash, no secrets hash.
    await redis.del(keys.appSecrets(app.id));
    await redis.hset(keys.app(app.id), 'serverSecretHash', hashSecret(serverSecret));
    assert.equal((await apps.serverSecrets(app.id)).length, 1);
    assert.equal(await redis.hget(keys.app(app.id), 'serverSecretHash'), null);
    const rotated = await apps.issueServerSecret(app.id, { retireOthersAfterMs: 0 });
    assert.equal(await apps.appOfServerSecret(serverSecret), null, 'the legacy secret is retired by a rotation');
    assert.equal((await apps.appOfServerSecret(rotated!.secret))?.id, app.id);
  });

  it('concurrent rotations leave each new secret working', async () => {
    const apps = new AppStore(redis, keys);
    const { app } = await apps.create('double click');
    const [a, b] = await Promise.all([apps.issueServerSecret(app.id, { retireOthersAfterMs: 60_000 }), apps.issueServerSecret(app.id, { retireOthersAfterMs: 60_000 })]);
    const live = await apps.serverSecrets(app.id);
    const unretired = live.filter((s) => s.expiresAt === null).map((s) => s.id);
    assert.equal(unretired.length, 1, 'exactly one secret is left without a retirement date');
    assert.ok([a!.id, b!.id].includes(unretired[0]!));
    assert.equal((await apps.appOfServerSecret(a!.secret))?.id, app.id);
    assert.equal((await apps.appOfServerSecret(b!.secret))?.id, app.id);
  });

  it('disables an existing app and refuses to create a half app for an unknown id', async () => {
    const apps = new AppStore(redis, keys);
    const { app } = await apps.create('to disable');
    assert.equal(await apps.setStatus(app.id, 'disabled'), true);
    assert.equal((await apps.get(app.id))?.status, 'disabled');
    assert.equal(await apps.setStatus('typo-app', 'disabled'), false);
    assert.equal(await apps.get('typo-app'), null);
  });

  it('registers devices with unguessable ids and reads them back', async () => {
    const devices = new DeviceStore(redis, keys);
    const a = await devices.register('app1', 'com.example');
    const b = await devices.register('app1', 'com.example');
    assert.notEqual(a.id, b.id);
    assert.equal(Buffer.from(a.id, 'base64url').length, 16, '128 random bits');
    assert.deepEqual(await devices.get(a.id), a);
    assert.equal(await devices.get('unknown'), null);
  });

  it('numbers devices within their app, and numbers one registered before numbers at its HELLO', async () => {
    const devices = new DeviceStore(redis, keys);
    const [a, b] = [await devices.register('app-n', ''), await devices.register('app-n', '')];
    const noOf = async (id: string) => Number(await redis.hget(keys.device(id), 'no'));
    assert.equal(await noOf(b.id), (await noOf(a.id)) + 1);
    await redis.hdel(keys.device(a.id), 'no');
    assert.equal((await devices.helloRecord(a.id, 'nonce-cccccccccccc', 60_000))?.no, null);
    const drawn = await devices.assignNumber(a.id, 'app-n');
    assert.equal(await devices.assignNumber(a.id, 'app-n'), drawn, 'a second HELLO keeps the number');
    assert.ok(drawn > (await noOf(b.id)));
    assert.equal(await redis.hget(keys.app('app-n'), 'devices'), '3', 'active devices: two registered, one numbered late');
    assert.equal(await devices.invalidate('app-n', b.id), 'invalidated');
    assert.equal(await redis.hget(keys.app('app-n'), 'devices'), '2');
  });

  it('helloRecord claims a nonce once and knows nothing of unknown devices', async () => {
    const devices = new DeviceStore(redis, keys);
    const d = await devices.register('app1', '');
    const no = Number(await redis.hget(keys.app('app1'), 'deviceSeq'));
    await redis.sadd(keys.deviceTopics(d.id), 'news', 'sports');
    const record = await devices.helloRecord(d.id, 'nonce-aaaaaaaaaaaa', 60_000);
    assert.deepEqual({ ...record, topics: record?.topics.sort() }, { appId: 'app1', gen: 1, status: 'active', nonceFresh: true, no, topics: ['news', 'sports'], topicsVersion: 0 });
    assert.equal((await devices.helloRecord(d.id, 'nonce-aaaaaaaaaaaa', 60_000))?.nonceFresh, false);
    assert.equal(await devices.helloRecord('unknown', 'nonce-bbbbbbbbbbbb', 60_000), null);
    assert.equal(await redis.exists(keys.helloNonce('unknown', 'nonce-bbbbbbbbbbbb')), 0, 'no nonce recorded for an unknown device');
  });

  it('counts each gateway\'s publish of a broadcast slice once, however often it is retried', async () => {
    const log = new BroadcastLog(redis, keys, new TurnPipeline(redis), 100);
    await redis.hset(keys.message('bc-count'), 'app', 'a1', 'sent', 0);
    await log.countPublished('bc-count', 'gw1', [0, 1024], 40);
    await log.countPublished('bc-count', 'gw1', [0, 1024], 40); // the same publish, retried
    await log.countPublished('bc-count', 'gw2', [0, 1024], 25);
    await log.countPublished('bc-count', 'gw1', [512, 600], 7); // a paced campaign's next slice
    await log.countSent(new Map([['bc-count', 3]])); // catch-up
    assert.equal(await redis.hget(keys.message('bc-count'), 'sent'), String(40 + 25 + 7 + 3));
    assert.deepEqual([...await log.publishedOn('bc-count', [0, 1024], ['gw1', 'gw2', 'gw3'])], ['gw1', 'gw2'], 'a retry skips the gateways that answered');
    assert.deepEqual([...await log.publishedOn('bc-count', [600, 700], ['gw1'])], [], 'another slice is not published yet');
    await log.countPublished('gone', 'gw1', [0, 1024], 5);
    assert.equal(await redis.exists(keys.message('gone')), 0, 'no hash made for a message that is gone');
  });

  it('an ACK takes ids out of the inbox and counts them delivered in one step, each once', async () => {
    const scripts = new TurnPipeline(redis);
    const inbox = new InboxStore(redis, keys, scripts, 100);
    const messages = new MessageStore(redis, keys, scripts, 60_000);
    const exp = Date.now() + 60_000;
    for (const id of ['ack-m1', 'ack-m2']) {
      await redis.hset(keys.message(id), 'app', 'a1', 'delivered', 0, 'cid', id === 'ack-m2' ? 'camp-1' : '');
      await inbox.add('dev-ack', id, exp);
    }
    await inbox.add('dev-ack', 'ack-gone', exp); // its message hash is gone (trace retention passed)
    const first = await messages.acked('dev-ack', ['ack-m1', 'ack-m2', 'ack-gone', 'bc-not-in-inbox']);
    assert.deepEqual(first.counted.map((c) => [c.messageId, c.appId, c.campaignId]), [['ack-m1', 'a1', undefined], ['ack-m2', 'a1', 'camp-1']]);
    assert.deepEqual(first.notInInbox, ['bc-not-in-inbox']);
    assert.deepEqual(await inbox.pending('dev-ack'), [], 'all three left the inbox');
    const again = await messages.acked('dev-ack', ['ack-m1', 'ack-m2']);
    assert.deepEqual(again, { counted: [], notInInbox: ['ack-m1', 'ack-m2'] }, 'a repeated ACK counts nothing');
    assert.equal(await redis.hget(keys.message('ack-m1'), 'delivered'), '1');
  });
});
