import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestStack, TEST_ADMIN_TOKEN, type TestStack } from '../support/stack-fixture.js';
import { RawDevice } from '../support/raw-device.js';
import { waitFor } from '../support/wait.js';

interface AdminApp {
  id: string;
  name: string;
  clientKey: string;
  status: string;
  maxSessions?: number;
  serverSecret: { id: string; secret: string };
  serverSecrets: Array<{ id: string; expiresAt: number | null }>;
  apps: Array<{ id: string; name: string }>;
  secret: string;
  error: { code: string; details?: { fields: Array<{ path: string }> } };
}

describe('admin API: apps and their server secrets', () => {
  let stack: TestStack;
  const admin = async (path: string, init: { method?: string; body?: unknown; token?: string } = {}) => {
    const res = await stack.api(`/v1/admin${path}`, { ...init, secret: init.token ?? TEST_ADMIN_TOKEN });
    return { status: res.status, body: res.body as unknown as AdminApp, headers: res.headers };
  };
  const sendWith = (secret: string) => stack.api('/v1/messages', { secret, body: { to: { aliases: ['nobody'] }, data: 1 } });

  before(async () => {
    stack = await startTestStack({ overrides: { gateway: { appCacheMs: 50 } } });
  });
  after(async () => {
    await stack.close();
  });

  it('refuses requests without the admin token, and a server secret is not an admin token', async () => {
    assert.equal((await admin('/apps', { token: 'wrong-token-wrong-token-wrong' })).status, 401);
    assert.equal((await admin('/apps', { token: stack.app.serverSecret })).status, 401);
    const res = await fetch(`${stack.http}/v1/admin/apps`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as AdminApp).error.code, 'auth_failed');
  });

  it('creates an app whose devices register and whose secret sends; lists and shows it', async () => {
    const created = await admin('/apps', { body: { name: '  Shop  ' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'Shop');
    assert.equal(created.headers.get('location'), `/v1/admin/apps/${created.body.id}`);
    assert.match(created.body.serverSecret.id, /^sk_[0-9a-f]{12}$/);

    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    const creds = await dev.register(created.body.id, created.body.clientKey);
    assert.ok(creds.deviceId);
    dev.destroy();
    assert.equal((await sendWith(created.body.serverSecret.secret)).status, 202);

    const listed = await admin('/apps');
    assert.ok(listed.body.apps.some((a) => a.id === created.body.id && a.name === 'Shop'));
    const shown = await admin(`/apps/${created.body.id}`);
    assert.deepEqual(shown.body.serverSecrets.map((s) => s.id), [created.body.serverSecret.id]);
    assert.ok(!JSON.stringify(shown.body).includes(created.body.serverSecret.secret), 'a secret is shown once, at creation');
  });

  it('rotates a server secret with an overlap window, then revokes', async () => {
    const app = (await admin('/apps', { body: { name: 'rotating' } })).body;
    const old = app.serverSecret.secret;
    const rotated = await admin(`/apps/${app.id}/secrets`, { body: { retireOthersAfterSec: 1 } });
    assert.equal(rotated.status, 201);
    assert.equal((await sendWith(old)).status, 202, 'the old secret still works inside the overlap');
    assert.equal((await sendWith(rotated.body.secret)).status, 202);
    const secrets = (await admin(`/apps/${app.id}/secrets`)).body.serverSecrets;
    assert.ok(secrets.find((s) => s.id === app.serverSecret.id)?.expiresAt, 'the old one shows when it retires');
    await waitFor(async () => (await sendWith(old)).status === 401, 'old secret retired', 4000, 100);

    const extra = (await admin(`/apps/${app.id}/secrets`, { method: 'POST' })).body;
    assert.equal((await admin(`/apps/${app.id}/secrets/${(extra as unknown as { id: string }).id}`, { method: 'DELETE' })).status, 204);
    await waitFor(async () => (await sendWith(extra.secret)).status === 401, 'revoked secret refused', 4000, 100);
    assert.equal((await sendWith(rotated.body.secret)).status, 202, 'the other secret is untouched');
    assert.equal((await admin(`/apps/${app.id}/secrets/sk_000000000000`, { method: 'DELETE' })).body.error.code, 'secret_not_found');
  });

  it('disabling an app refuses its servers and its devices; enabling restores them', async () => {
    const app = (await admin('/apps', { body: { name: 'to disable' } })).body;
    const patched = await admin(`/apps/${app.id}`, { method: 'PATCH', body: { status: 'disabled' } });
    assert.equal(patched.body.status, 'disabled');
    await waitFor(async () => (await sendWith(app.serverSecret.secret)).status === 401, 'server refused', 4000, 100);
    const dev = await RawDevice.connect(stack.gateways[0]!.port);
    await assert.rejects(dev.register(app.id, app.clientKey));
    dev.destroy();
    await admin(`/apps/${app.id}`, { method: 'PATCH', body: { status: 'active', name: 'back' } });
    await waitFor(async () => (await sendWith(app.serverSecret.secret)).status === 202, 'server accepted again', 4000, 100);
  });

  it('sets and clears an app\'s own limit of concurrent sessions', async () => {
    const app = (await admin('/apps', { body: { name: 'limited' } })).body;
    assert.equal((await admin(`/apps/${app.id}`, { method: 'PATCH', body: { maxSessions: 1 } })).body.maxSessions, 1);
    assert.equal((await admin(`/apps/${app.id}`)).body.maxSessions, 1);
    // Enforced by the gateways (test/gateway/app-session-limit.test.ts): a second session gets 4008.
    const first = await RawDevice.connect(stack.gateways[0]!.port);
    await first.hello(await first.register(app.id, app.clientKey));
    const second = await RawDevice.connect(stack.gateways[0]!.port);
    second.send(second.helloFrame(await second.register(app.id, app.clientKey)));
    assert.equal((await second.closedWith())?.code, 4008);
    first.destroy();
    const cleared = await admin(`/apps/${app.id}`, { method: 'PATCH', body: { maxSessions: null } });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.maxSessions, undefined);
    assert.equal((await admin(`/apps/${app.id}`, { method: 'PATCH', body: { maxSessions: -1 } })).status, 400);
  });

  it('answers unknown apps with app_not_found and bad bodies with field errors', async () => {
    assert.equal((await admin('/apps/nosuchapp')).body.error.code, 'app_not_found');
    assert.equal((await admin('/apps/nosuchapp', { method: 'PATCH', body: { name: 'x' } })).status, 404);
    assert.equal((await admin('/apps/nosuchapp/secrets', { method: 'POST', body: {} })).status, 404);
    const bad = await admin('/apps', { body: { name: '', colour: 'red' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details?.fields.map((f) => f.path).sort(), ['(body)', 'name']);
    assert.equal((await admin('/nothing-here')).body.error.code, 'route_not_found');
  });
});
