import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

interface View {
  id: string;
  state: string;
  audienceSize: number;
  messageId?: string;
  progress: { audience: number; sent: number; delivered: number; opened: number; failed: number; expired: number };
}

describe('campaigns: schedule, pace, pause, resume, cancel, watch', () => {
  let stack: TestStack;
  let app: TestApp;
  const clients: PetrelClient[] = [];
  /** message id → device ids that were given it (each once, or the test fails). */
  const received = new Map<string, string[]>();

  before(async () => {
    stack = await startTestStack({ gateways: 2 });
    app = await stack.newApp();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack.close();
  });

  async function devices(n: number, topics: string[] = []): Promise<PetrelClient[]> {
    const made = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const c = new PetrelClient({
        host: '127.0.0.1', port: stack.gateways[i % 2]!.port, appId: app.appId, clientKey: app.clientKey,
        store: new MemoryStore(), backoff: { baseMs: 50, capMs: 200 }, ackDelayMs: 5,
      });
      const got = (m: PushMessage) => received.set(m.id, [...(received.get(m.id) ?? []), c.deviceId!]);
      c.on('message', got);
      c.on('notification', got);
      await c.start();
      await c.waitFor('connected');
      if (topics.length > 0) await c.subscribe(topics);
      return c;
    }));
    clients.push(...made);
    return made;
  }

  const api = (path: string, init: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => stack.api(path, { ...init, secret: app.serverSecret });
  async function view(id: string): Promise<View> {
    const res = await api(`/v1/campaigns/${id}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as unknown as View;
  }
  async function create(body: Record<string, unknown>): Promise<View> {
    const res = await api('/v1/campaigns', { body: { name: 'spring sale', message: { data: { sale: true }, ttl: 3600 }, ...body } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as unknown as View;
  }
  const act = async (id: string, action: string) => (await api(`/v1/campaigns/${id}/${action}`, { method: 'POST' }));
  const count = (messageId: string | undefined) => (messageId ? received.get(messageId)?.length ?? 0 : 0);

  it('a paced topic campaign stops within a second when paused, resumes where it stopped, and counts every ACK once', { timeout: 30_000 }, async () => {
    const fleet = await devices(300, ['sale']);
    const c = await create({ audience: { topic: 'sale' }, ratePerSecond: 150 });
    assert.equal(c.state, 'draft');
    assert.equal((await act(c.id, 'start')).status, 200);
    await waitFor(async () => count((await view(c.id)).messageId) >= 40, 'some deliveries', 5000);
    const { messageId } = await view(c.id);
    assert.equal((await act(c.id, 'pause')).status, 200);
    await new Promise((r) => setTimeout(r, 1000));
    const atPause = count(messageId);
    assert.ok(atPause < fleet.length, `paused before the end (${atPause})`);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(count(messageId), atPause, 'nothing more while paused');
    assert.equal((await view(c.id)).state, 'paused');

    assert.equal((await act(c.id, 'resume')).status, 200);
    await waitFor(async () => (await view(c.id)).state === 'completed', 'completed', 15_000);
    await waitFor(() => count(messageId) === fleet.length, 'every subscriber', 5000);
    assert.equal(new Set(received.get(messageId!)).size, fleet.length, 'each device once');
    await waitFor(async () => (await view(c.id)).progress.delivered === fleet.length, 'ACKs counted', 5000);
    const done = await view(c.id);
    assert.equal(done.progress.audience, fleet.length);
    assert.ok(done.progress.sent >= fleet.length);
    const series = (await api(`/v1/campaigns/${c.id}/series`)).body as unknown as { points: Array<{ sent: number; delivered: number }> };
    assert.equal(series.points.reduce((n, p) => n + p.sent, 0), done.progress.sent);
    await waitFor(async () => ((await api(`/v1/campaigns/${c.id}/series`)).body as unknown as { points: Array<{ delivered: number }> }).points.reduce((n, p) => n + p.delivered, 0) === fleet.length, 'series deliveries', 5000);
    assert.equal((await act(c.id, 'pause')).status, 409, 'a completed campaign cannot be paused');
  });

  it('a list campaign streams its uploaded devices and aliases through the unicast path; unknown ids count as failed', { timeout: 30_000 }, async () => {
    const fleet = await devices(120);
    await Promise.all(fleet.slice(0, 20).map((d, i) => api(`/v1/devices/${d.deviceId}/aliases/buyer-${i}`, { method: 'PUT' })));
    const c = await create({ audience: { list: true }, ratePerSecond: 400 });
    assert.equal((await act(c.id, 'start')).status, 400, 'no list yet');
    const bad = await api(`/v1/campaigns/${c.id}/audience`, { method: 'PUT', raw: 'ok-device-id\nnot a device\n', headers: { 'content-type': 'text/plain' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'audience_invalid');
    const lines = [
      ...fleet.slice(20).map((d) => d.deviceId!), ...fleet.slice(0, 20).map((_, i) => `alias:buyer-${i}`),
      'AAAAAAAAAAAAAAAAAAAAAA', 'alias:nobody', '',
    ];
    const up = await api(`/v1/campaigns/${c.id}/audience`, { method: 'PUT', raw: lines.join('\r\n'), headers: { 'content-type': 'text/plain' } });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal((up.body as unknown as { audienceSize: number }).audienceSize, 122);
    assert.equal((await act(c.id, 'start')).status, 200);
    await waitFor(async () => (await view(c.id)).state === 'completed', 'completed', 10_000);
    const ids = new Set(fleet.map((d) => d.deviceId!));
    const got = new Map<string, number>();
    for (const [, devs] of received) for (const d of devs) if (ids.has(d)) got.set(d, (got.get(d) ?? 0) + 1);
    await waitFor(async () => (await view(c.id)).progress.delivered === 120, 'delivered', 5000);
    const v = await view(c.id);
    assert.equal(v.progress.failed, 1, 'the unknown device (an alias bound to nothing is reported by receipts, not counted as a device)');
    assert.equal(v.progress.sent, 122);
    assert.equal((await api(`/v1/campaigns/${c.id}/audience`, { method: 'PUT', raw: 'x', headers: { 'content-type': 'text/plain' } })).status, 409, 'not after start');
  });

  it('an unpaced list campaign steps as fast as the dispatchers keep up, and its uploaded list is dropped when it completes', { timeout: 30_000 }, async () => {
    const c = await create({ audience: { list: true } });
    // 2,500 device ids of no device: three chunks, each line counted as failed.
    const lines = Array.from({ length: 2500 }, (_, i) => `Z${String(i).padStart(21, '0')}`);
    const up = await api(`/v1/campaigns/${c.id}/audience`, { method: 'PUT', raw: lines.join('\n'), headers: { 'content-type': 'text/plain' } });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    const audienceKey = stack.rt.keys.campaignAudience(app.appId, c.id);
    assert.equal(await stack.rt.redis.exists(audienceKey), 1);
    const started = Date.now();
    assert.equal((await act(c.id, 'start')).status, 200);
    await waitFor(async () => (await view(c.id)).state === 'completed', 'completed', 10_000);
    // Paced at one chunk per 250 ms step it would take at least 500 ms.
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    await waitFor(async () => (await view(c.id)).progress.failed === 2500, 'every line counted', 10_000);
    const v = await view(c.id);
    assert.deepEqual([v.progress.sent, v.progress.delivered, v.audienceSize], [2500, 0, 2500]);
    assert.equal(await stack.rt.redis.exists(audienceKey), 0, 'the list is gone, its size kept');
  });

  it('a scheduled campaign waits for its time; one cancelled before it sends nothing', { timeout: 30_000 }, async () => {
    const fleet = await devices(10, ['later']);
    const soon = await create({ audience: { condition: 'later && !never' }, startAt: Date.now() + 1500 });
    const never = await create({ audience: { all: true }, startAt: Date.now() + 1500 });
    assert.equal(((await act(soon.id, 'start')).body as unknown as View).state, 'scheduled');
    assert.equal((await act(never.id, 'start')).status, 200);
    assert.equal(((await act(never.id, 'cancel')).body as unknown as View).state, 'cancelled');
    assert.equal((await act(never.id, 'cancel')).status, 200, 'cancelling twice is harmless');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal((await view(soon.id)).state, 'scheduled');
    await waitFor(async () => (await view(soon.id)).state === 'completed', 'ran at its time', 8000);
    const { messageId } = await view(soon.id);
    await waitFor(() => count(messageId) === fleet.length, 'delivered', 5000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await view(never.id)).messageId, undefined, 'the cancelled one never made a message');

    const list = (await api('/v1/campaigns?limit=2')).body as unknown as { campaigns: View[]; next: string | null };
    assert.deepEqual(list.campaigns.map((x) => x.id), [never.id, soon.id]);
    assert.ok(list.next);
    const other = await stack.newApp();
    assert.equal((await stack.api(`/v1/campaigns/${soon.id}`, { secret: other.serverSecret })).status, 404);
  });
});
