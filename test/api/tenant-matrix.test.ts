import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameType } from '../../src/protocol/index.js';
import { RawDevice, type DeviceCredentials } from '../support/raw-device.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * Tenant isolation of the app-server API: every endpoint of the OpenAPI document, called
 * by app A with app B's ids, answers exactly as it does for ids that exist nowhere, and
 * changes nothing of B's. The endpoint list comes from /openapi.json, so a new endpoint
 * without a row here fails this test.
 */

interface Doc {
  paths: Record<string, Record<string, { security: Array<Record<string, unknown>> }>>;
}

interface Ids {
  deviceId: string;
  campaignId: string;
  messageId: string;
  topic: string;
  alias: string;
}

/** A call of one endpoint with a set of ids: what A sends. */
type Call = (ids: Ids) => { path: string; method: string; body?: unknown };

const NOWHERE: Ids = { deviceId: 'nosuchdevice0000000000', campaignId: '01KBBBBBBBBBBBBBBBBBBBBBBB', messageId: '01KAAAAAAAAAAAAAAAAAAAAAAA', topic: 'no-such-topic', alias: 'no-such-alias' };

const calls: Record<string, Call> = {
  'post /v1/messages': (i) => ({ method: 'POST', path: '/v1/messages', body: { to: { devices: [i.deviceId] }, data: 'probe' } }),
  'post /v1/messages/batch': (i) => ({ method: 'POST', path: '/v1/messages/batch', body: { messages: [{ to: { devices: [i.deviceId] }, data: 'probe' }] } }),
  'delete /v1/messages/{id}': (i) => ({ method: 'DELETE', path: `/v1/messages/${i.messageId}` }),
  'get /v1/messages/{id}': (i) => ({ method: 'GET', path: `/v1/messages/${i.messageId}` }),
  'post /v1/messages/{id}/revoke': (i) => ({ method: 'POST', path: `/v1/messages/${i.messageId}/revoke` }),
  // Creating names no ids; an invalid body shows the answer does not depend on B either.
  'post /v1/campaigns': () => ({ method: 'POST', path: '/v1/campaigns', body: { name: '' } }),
  'get /v1/campaigns/{id}': (i) => ({ method: 'GET', path: `/v1/campaigns/${i.campaignId}` }),
  'get /v1/campaigns/{id}/series': (i) => ({ method: 'GET', path: `/v1/campaigns/${i.campaignId}/series` }),
  'put /v1/campaigns/{id}/audience': (i) => ({ method: 'PUT', path: `/v1/campaigns/${i.campaignId}/audience`, body: 'x' }),
  'post /v1/campaigns/{id}/start': (i) => ({ method: 'POST', path: `/v1/campaigns/${i.campaignId}/start` }),
  'post /v1/campaigns/{id}/pause': (i) => ({ method: 'POST', path: `/v1/campaigns/${i.campaignId}/pause` }),
  'post /v1/campaigns/{id}/resume': (i) => ({ method: 'POST', path: `/v1/campaigns/${i.campaignId}/resume` }),
  'post /v1/campaigns/{id}/cancel': (i) => ({ method: 'POST', path: `/v1/campaigns/${i.campaignId}/cancel` }),
  'get /v1/devices/{deviceId}': (i) => ({ method: 'GET', path: `/v1/devices/${i.deviceId}` }),
  'post /v1/devices/{deviceId}/invalidate': (i) => ({ method: 'POST', path: `/v1/devices/${i.deviceId}/invalidate` }),
  'get /v1/devices/{deviceId}/topics': (i) => ({ method: 'GET', path: `/v1/devices/${i.deviceId}/topics` }),
  'put /v1/devices/{deviceId}/topics/{topic}': (i) => ({ method: 'PUT', path: `/v1/devices/${i.deviceId}/topics/${i.topic}` }),
  'delete /v1/devices/{deviceId}/topics/{topic}': (i) => ({ method: 'DELETE', path: `/v1/devices/${i.deviceId}/topics/${i.topic}` }),
  'get /v1/topics/{topic}': (i) => ({ method: 'GET', path: `/v1/topics/${i.topic}` }),
  'post /v1/topics/{topic}/subscribers': (i) => ({ method: 'POST', path: `/v1/topics/${i.topic}/subscribers`, body: { subscribe: [i.deviceId] } }),
  'put /v1/devices/{deviceId}/{kind}/{name}': (i) => ({ method: 'PUT', path: `/v1/devices/${i.deviceId}/aliases/${i.alias}` }),
  'delete /v1/devices/{deviceId}/{kind}/{name}': (i) => ({ method: 'DELETE', path: `/v1/devices/${i.deviceId}/aliases/${i.alias}` }),
  'get /v1/devices/{deviceId}/{kind}': (i) => ({ method: 'GET', path: `/v1/devices/${i.deviceId}/aliases` }),
};

/** Endpoints without ids in them: A's answer must not mention any of B's. */
const listings = ['get /v1/campaigns', 'get /v1/topics', 'get /v1/stats', 'get /v1/receipts/secret', 'get /v1/receipts/dead-letters', 'post /v1/receipts/dead-letters/redrive'];

describe('tenant matrix: every endpoint with another app\'s ids answers as for ids that do not exist', () => {
  let stack: TestStack;
  let b: TestApp;
  let bDevice: RawDevice;
  let bCreds: DeviceCredentials;
  let bIds: Ids;
  let doc: Doc;
  const asB = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, secret: b.serverSecret });

  before(async () => {
    stack = await startTestStack({ overrides: { dispatch: { traceDevices: 100 } } });
    doc = (await (await fetch(`${stack.http}/openapi.json`)).json()) as Doc;
    b = await stack.newApp();
    bDevice = await RawDevice.connect(stack.gateways[0]!.port);
    bCreds = await bDevice.register(b.appId, b.clientKey);
    await bDevice.hello(bCreds);
    const later = await asB('/v1/messages', { body: { to: { devices: [bCreds.deviceId] }, data: 'b later', sendAt: Date.now() + 600_000 } });
    assert.equal(later.status, 202);
    assert.equal((await asB(`/v1/devices/${bCreds.deviceId}/topics/b-news`, { method: 'PUT' })).status, 204);
    assert.equal((await asB(`/v1/devices/${bCreds.deviceId}/aliases/b-alias`, { method: 'PUT' })).status, 204);
    const campaign = await asB('/v1/campaigns', { body: { name: 'b campaign', audience: { list: true }, message: { data: 'b' } } });
    assert.equal(campaign.status, 201);
    bIds = { deviceId: bCreds.deviceId, campaignId: campaign.body.id, messageId: later.body.id, topic: 'b-news', alias: 'b-alias' };
  });
  after(async () => {
    bDevice.destroy();
    await stack.close();
  });

  it('covers every app-server endpoint of the OpenAPI document', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).filter(([, op]) => op.security.some((s) => 'serverSecret' in s)).map(([method]) => `${method} ${path}`));
    const covered = new Set([...Object.keys(calls), ...listings]);
    assert.deepEqual(documented.filter((e) => !covered.has(e)), [], 'endpoints without a tenant-matrix row');
  });

  it('answers B\'s ids exactly like ids that exist nowhere (status and body)', async () => {
    const normalise = (text: string, ids: Ids) => Object.values(ids).reduce((t, id) => t.split(id).join('<id>'), text);
    for (const [name, call] of Object.entries(calls)) {
      const answer = async (ids: Ids) => {
        const c = call(ids);
        const res = await stack.api(c.path, { method: c.method, ...(c.body === undefined ? {} : { body: c.body }) });
        // Message ids are new on each accepted send: compare the shape, not the id.
        return { status: res.status, body: normalise(JSON.stringify(res.body ?? null), ids).replace(/"id":"[0-9A-Z]{26}"/g, '"id":"<new>"') };
      };
      assert.deepEqual(await answer(bIds), await answer(NOWHERE), name);
    }
  });

  it('leaves B\'s data as it was, and B\'s device got nothing from A', async () => {
    const device = (await asB(`/v1/devices/${bCreds.deviceId}`)).body as unknown as { status: string; online: boolean; aliases: string[]; topics: string[] };
    assert.equal(device.status, 'active');
    assert.deepEqual(device.aliases, ['b-alias']);
    assert.deepEqual(device.topics, ['b-news']);
    await waitFor(async () => ((await asB(`/v1/devices/${bCreds.deviceId}`)).body as unknown as { online: boolean }).online, 'B device online');
    // Broadcasts of another app, to B's topic name and to "everyone", stay within that app
    // (not A's: A's statistics must stay comparable in the listings test).
    const c = await stack.newApp();
    for (const to of [{ topic: bIds.topic }, { condition: `${bIds.topic} || !x` }, { all: true }]) {
      assert.equal((await stack.api('/v1/messages', { body: { to, data: 'probe' }, secret: c.serverSecret })).status, 202);
    }
    assert.equal(((await asB(`/v1/messages/${bIds.messageId}`)).body as unknown as { state: string }).state, 'scheduled', 'not cancelled by A');
    assert.equal(((await asB('/v1/topics/b-news')).body as unknown as { subscribers: number }).subscribers, 1);
    assert.equal(((await asB(`/v1/campaigns/${bIds.campaignId}`)).body as unknown as { state: string }).state, 'draft', 'not started or cancelled by A');
    await assert.rejects(bDevice.nextOf(FrameType.PUSH, 500), 'no PUSH reached B\'s device');
  });

  it('listings of A never show B\'s topics, secrets or counts', async () => {
    await waitFor(async () => JSON.stringify((await asB('/v1/stats')).body).includes('"accepted":1'), 'B stats flushed', 5000, 100);
    const bSecret = ((await asB('/v1/receipts/secret')).body as unknown as { secret: string }).secret;
    for (const name of listings) {
      const [method, path] = name.split(' ') as [string, string];
      const res = await stack.api(path, { method: method.toUpperCase() });
      const text = JSON.stringify(res.body);
      assert.ok(res.status < 300, `${name}: ${res.status}`);
      for (const leak of [bIds.topic, bIds.deviceId, bIds.messageId, bSecret, '"accepted":1']) assert.ok(!text.includes(leak), `${name} shows ${leak}`);
    }
  });
});
