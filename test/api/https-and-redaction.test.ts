import assert from 'node:assert/strict';
import https from 'node:https';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { createRuntime, type Runtime } from '../../src/cmd/runtime.js';
import { startHttp } from '../../src/cmd/tiers.js';
import { createLogger } from '../../src/observability/logger.js';
import { AppStore } from '../../src/store/app-store.js';
import { cleanupPrefix, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { selfSignedCert } from '../support/tls-cert.js';

/** One HTTPS request trusting only `ca`; resolves to the status and body. */
function httpsRequest(port: number, path: string, init: { ca: Buffer; method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers, ca: init.ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('the HTTP API over TLS (http.tls), with a generated certificate', () => {
  const tls = selfSignedCert();
  let rt: Runtime;
  let port: number;
  let prefix: string;
  let secret: string;

  before(async () => {
    prefix = uniquePrefix('https');
    const config = loadConfig({ env: {}, overrides: { redis: { url: testRedisUrl(), keyPrefix: prefix }, log: { level: 'silent' }, http: { host: '127.0.0.1', port: 0, tls: { certFile: tls.certFile, keyFile: tls.keyFile } } } });
    rt = createRuntime(config, 'test', { defaultMetrics: false, log: createLogger({ level: 'silent' }) });
    port = await startHttp(rt, 'http');
    secret = (await new AppStore(rt.redis, rt.keys).create('tls app')).serverSecret;
  });
  after(async () => {
    await cleanupPrefix(rt.redis, prefix);
    await rt.close();
  });

  it('accepts a send over HTTPS, and the certificate is the configured one', async () => {
    const res = await httpsRequest(port, '/v1/messages', {
      ca: tls.cert, method: 'POST', body: JSON.stringify({ to: { aliases: ['someone'] }, data: { over: 'tls' } }),
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    });
    assert.equal(res.status, 202, res.body);
    // A client that does not trust the certificate is refused by TLS itself.
    await assert.rejects(httpsRequest(port, '/healthz', { ca: Buffer.from('') }), /certificate|self.signed/i);
  });

  it('speaks no plain HTTP on the TLS port', async () => {
    const answer = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, (err: unknown) => err);
    assert.ok(answer instanceof Error || answer !== 200, `plain HTTP answered ${String(answer)}`);
  });
});

describe('logs never carry secrets (pino redaction)', () => {
  it('blanks secrets, keys, signatures and bearer tokens wherever a log line puts them', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const log = createLogger({ level: 'debug' }, sink);
    const values = ['dev-secret-value', 'server-secret-value', 'client-key-value', 'device-key-value', 'hmac-sig-value', 'Bearer token-value'];
    log.info({ secret: values[0], serverSecret: values[1], clientKey: values[2], deviceKey: values[3], sig: values[4] }, 'top level');
    log.info({ frame: { secret: values[0], sig: values[4], key: values[2] }, app: { serverSecret: values[1] } }, 'nested');
    log.info({ req: { headers: { authorization: values[5] } }, headers: { authorization: values[5] } }, 'request');
    log.child({ authorization: values[5] }).warn('child bindings');
    const text = lines.join('');
    assert.equal(lines.length, 4);
    for (const v of values) assert.ok(!text.includes(v.replace('Bearer ', '')), `a log line carries ${v}`);
    assert.ok(text.includes('[redacted]'));
  });
});
