import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { configEnvironment, loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/domain/errors.js';

describe('config', () => {
  it('has documented defaults', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.gateway.port, 5223);
    assert.equal(c.http.port, 8080);
    assert.equal(c.gateway.heartbeat.defaultSec, 240);
    assert.equal(c.gateway.authDeadlineMs, 10_000);
    assert.equal(c.codec.maxFrame, 65536);
  });

  it('applies file, then environment, then overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-config-'));
    const file = join(dir, 'petrel.json');
    writeFileSync(file, JSON.stringify({ gateway: { port: 1111, heartbeat: { defaultSec: 60 } }, http: { port: 2222 } }));
    const c = loadConfig({ file, env: { PETREL_HTTP_PORT: '3333', PETREL_LOG_LEVEL: 'debug' }, overrides: { log: { level: 'warn' } } });
    assert.equal(c.gateway.port, 1111, 'from file');
    assert.equal(c.gateway.heartbeat.defaultSec, 60, 'nested from file');
    assert.equal(c.gateway.heartbeat.minSec, 30, 'defaults fill the rest of a nested object');
    assert.equal(c.http.port, 3333, 'environment beats file');
    assert.equal(c.log.level, 'warn', 'overrides beat environment');
  });

  it('is deeply frozen', () => {
    const c = loadConfig({ env: {} });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.gateway) && Object.isFrozen(c.gateway.heartbeat));
  });

  for (const [what, options] of [
    ['a non-numeric port', { env: { PETREL_GATEWAY_PORT: 'abc' } }],
    ['a port out of range', { env: { PETREL_GATEWAY_PORT: '70000' } }],
    ['an unknown log level', { env: { PETREL_LOG_LEVEL: 'loud' } }],
    ['heartbeat bounds out of order', { env: {}, overrides: { gateway: { heartbeat: { minSec: 100, defaultSec: 50 } } } }],
    ['a missing config file', { env: {}, file: '/nonexistent/petrel.json' }],
    ['session counts refreshed too rarely for the registry TTL', { env: { PETREL_REGISTRY_TTL_MS: '2000' } }],
  ] as const) {
    it(`rejects ${what} with a ConfigError naming the problem`, () => {
      assert.throws(() => loadConfig(options), (err: unknown) => err instanceof ConfigError && err.code === 'config_invalid' && err.message.length > 10);
    });
  }

  it('README documents every environment variable the loader reads', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const [name] of configEnvironment) assert.ok(readme.includes(`\`${name}\``), `${name} missing from README`);
  });
});
