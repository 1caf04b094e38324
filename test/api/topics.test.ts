import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawDevice } from '../support/raw-device.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';

interface TopicPage {
  topics: Array<{ topic: string; subscribers: number }>;
  next: string | null;
}

interface BulkAnswer {
  topic: string;
  subscribe: Record<string, string>;
  unsubscribe: Record<string, string>;
}

async function registered(stack: TestStack, app: TestApp = stack.app): Promise<string> {
  const dev = await RawDevice.connect(stack.gateways[0]!.port);
  const creds = await dev.register(app.appId, app.clientKey);
  dev.destroy();
  return creds.deviceId;
}

describe('topics API', () => {
  let stack: TestStack;
  let app: TestApp;
  const secret = () => app.serverSecret;
  before(async () => {
    stack = await startTestStack({ overrides: { limits: { topicsPerDevice: 2 } } });
    // An app of its own, so the listing holds only what this suite subscribed.
    app = await stack.newApp();
  });
  after(async () => {
    await stack.close();
  });

  async function page(query: string): Promise<TopicPage> {
    const res = await stack.api(`/v1/topics${query}`, { secret: secret() });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as unknown as TopicPage;
  }

  async function bulk(topic: string, body: unknown, as = secret()): Promise<{ status: number; body: BulkAnswer & { error: { code: string } } }> {
    const res = await stack.api(`/v1/topics/${topic}/subscribers`, { body, secret: as });
    return { status: res.status, body: res.body as unknown as BulkAnswer & { error: { code: string } } };
  }

  it('bulk subscribe and unsubscribe answer per device; the per-device cap holds', async () => {
    const [a, b, full] = [await registered(stack, app), await registered(stack, app), await registered(stack, app)];
    for (const t of ['x1', 'x2']) assert.equal((await stack.api(`/v1/devices/${full}/topics/${t}`, { method: 'PUT', secret: secret() })).status, 204);
    const missing = 'AAAAAAAAAAAAAAAAAAAAAA';
    const res = await bulk('news', { subscribe: [a, b, full, missing] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { topic: 'news', subscribe: { [a]: 'ok', [b]: 'ok', [full]: 'topic_limit', [missing]: 'device_not_found' }, unsubscribe: {} });
    assert.deepEqual((await stack.api('/v1/topics/news', { secret: secret() })).body, { topic: 'news', subscribers: 2 });
    assert.deepEqual(((await stack.api(`/v1/devices/${a}`, { secret: secret() })).body as unknown as { topics: string[] }).topics, ['news']);

    const both = await bulk('news', { subscribe: [full], unsubscribe: [a] });
    assert.deepEqual(both.body, { topic: 'news', subscribe: { [full]: 'topic_limit' }, unsubscribe: { [a]: 'ok' } });
    assert.deepEqual((await stack.api('/v1/topics/news', { secret: secret() })).body, { topic: 'news', subscribers: 1 });
    await bulk('news', { unsubscribe: [b] });
    assert.deepEqual((await stack.api('/v1/topics/news', { secret: secret() })).body, { topic: 'news', subscribers: 0 });
    assert.ok(!(await page('?limit=1000')).topics.some((t) => t.topic === 'news'), 'a topic without subscribers leaves the listing');
  });

  it('lists the app\'s topics with subscriber counts, a page at a time', async () => {
    const names = ['p-a', 'p-b', 'p-c', 'p-d', 'p-e'];
    const devices: string[] = [];
    for (const _ of names) devices.push(await registered(stack, app));
    for (const [i, name] of names.entries()) {
      const res = await bulk(name, { subscribe: i === 0 ? devices.slice(0, 2) : [devices[i]!] });
      assert.ok(Object.values(res.body.subscribe).every((r) => r === 'ok'), JSON.stringify(res.body));
    }
    // The first test's topics (x1, x2) are listed as well: the app's whole index, by name.
    const all: TopicPage['topics'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p: TopicPage = await page(`?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.ok(p.topics.length <= 2);
      all.push(...p.topics);
      cursor = p.next;
      pages++;
    } while (cursor !== null && pages < 20);
    const mine = all.filter((t) => t.topic.startsWith('p-'));
    assert.deepEqual(mine.map((t) => t.topic), names);
    assert.deepEqual(mine.map((t) => t.subscribers), [2, 1, 1, 1, 1]);
    assert.deepEqual(all.map((t) => t.topic), [...all.map((t) => t.topic)].sort(), 'sorted by name');
    assert.equal(pages, Math.ceil(all.length / 2));
  });

  it('refuses malformed queries, bodies and topic names with their codes', async () => {
    for (const q of ['?limit=0', '?limit=1001', '?limit=abc', '?cursor=has%20space']) {
      const res = await stack.api(`/v1/topics${q}`, { secret: secret() });
      assert.equal(res.status, 400, q);
      assert.equal(res.body.error.code, 'query_invalid', q);
    }
    const id = await registered(stack, app);
    const cases: unknown[] = [
      {}, { subscribe: [] }, { subscribe: ['bad id!'] }, { subscribe: [id], unsubscribe: [id] }, { subscribe: [id], extra: 1 },
      { subscribe: Array.from({ length: 600 }, (_, i) => `d${i}`), unsubscribe: Array.from({ length: 401 }, (_, i) => `e${i}`) },
    ];
    for (const body of cases) {
      const res = await bulk('news', body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.error.code, 'body_invalid', JSON.stringify(body).slice(0, 80));
    }
    assert.equal((await bulk('no%20spaces', { subscribe: [id] })).body.error.code, 'topic_invalid');
    assert.equal((await stack.api(`/v1/topics/${'x'.repeat(129)}`, { secret: secret() })).body.error.code, 'topic_invalid');
  });

  it('another app\'s topic reads as empty, and its devices as not found', async () => {
    const other = await stack.newApp();
    const theirs = await registered(stack, other);
    assert.equal((await bulk('secret-topic', { subscribe: [theirs] }, other.serverSecret)).body.subscribe[theirs], 'ok');
    const seen = await stack.api('/v1/topics/secret-topic', { secret: secret() });
    const never = await stack.api('/v1/topics/never-used', { secret: secret() });
    assert.deepEqual(seen.body, { topic: 'secret-topic', subscribers: 0 });
    assert.deepEqual(never.body, { topic: 'never-used', subscribers: 0 });
    assert.ok(!(await page('?limit=1000')).topics.some((t) => t.topic === 'secret-topic'));
    const res = await bulk('secret-topic', { subscribe: [theirs], unsubscribe: [] });
    assert.deepEqual(res.body.subscribe, { [theirs]: 'device_not_found' });
    const gone = await bulk('secret-topic', { unsubscribe: [theirs] });
    assert.deepEqual(gone.body.unsubscribe, { [theirs]: 'device_not_found' });
    assert.deepEqual((await stack.api('/v1/topics/secret-topic', { secret: other.serverSecret })).body, { topic: 'secret-topic', subscribers: 1 });
  });
});
