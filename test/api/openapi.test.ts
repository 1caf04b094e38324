import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { acceptedAnswer, appWithSecretsAnswer, batchAnswer, createdAppAnswer, errorAnswer, traceAnswer } from '../../src/api/answers.js';
import { PETREL_VERSION } from '../../src/cmd/version.js';
import { startTestStack, TEST_ADMIN_TOKEN, type TestStack } from '../support/stack-fixture.js';

interface Doc {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, { security: Array<Record<string, unknown>>; requestBody?: unknown }>>;
  components: { schemas: Record<string, unknown> };
}

describe('OpenAPI document and docs page', () => {
  let stack: TestStack;
  let doc: Doc;
  before(async () => {
    stack = await startTestStack();
    doc = (await (await fetch(`${stack.http}/openapi.json`)).json()) as Doc;
  });
  after(async () => {
    await stack.close();
  });

  it('is OpenAPI 3.1 at the package version, and every local $ref resolves', () => {
    assert.equal(doc.openapi, '3.1.0');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(doc.info.version, pkg.version);
    assert.equal(PETREL_VERSION, pkg.version);
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      const name = /#\/components\/schemas\/([^"]+)/.exec(ref)?.[1];
      assert.ok(name && doc.components.schemas[name], `dangling ${ref}`);
    }
  });

  it('every documented operation is served (none answers route_not_found)', async () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const admin = op.security.some((s) => 'adminToken' in s);
        const url = path.replace(/\{kind\}/, 'aliases').replace(/\{secretId\}/, 'sk_000000000000').replace(/\{[^}]+\}/g, 'x');
        const res = await stack.api(url, { method: method.toUpperCase(), ...(op.requestBody ? { body: {} } : {}), ...(admin ? { secret: TEST_ADMIN_TOKEN } : {}) });
        assert.notEqual(res.body?.error?.code, 'route_not_found', `${method} ${path}`);
      }
    }
  });

  it('real answers match the documented schemas', async () => {
    const sent = await stack.api('/v1/messages', { body: { to: { aliases: ['doc'] }, data: 1 } });
    acceptedAnswer.parse(sent.body);
    traceAnswer.parse((await stack.api(`/v1/messages/${sent.body.id}`)).body);
    batchAnswer.parse((await stack.api('/v1/messages/batch', { body: { messages: [{ to: { aliases: ['a'] } }, { to: {} }] } })).body);
    errorAnswer.parse((await stack.api('/v1/messages', { body: { to: {} } })).body);
    const created = createdAppAnswer.parse((await stack.api('/v1/admin/apps', { body: { name: 'doc' }, secret: TEST_ADMIN_TOKEN })).body);
    appWithSecretsAnswer.parse((await stack.api(`/v1/admin/apps/${created.id}`, { secret: TEST_ADMIN_TOKEN })).body);
  });

  it('serves a readable docs page from local assets', async () => {
    const page = await fetch(`${stack.http}/docs`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger-ui-bundle\.js/);
    const bundle = await fetch(`${stack.http}/docs/assets/swagger-ui-bundle.js`);
    assert.equal(bundle.status, 200);
    await bundle.arrayBuffer();
  });
});
