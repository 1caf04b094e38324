import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CloseCode, FrameType } from '../../src/protocol/index.js';
import { AppStore } from '../../src/store/app-store.js';
import { RedisKeys } from '../../src/store/keys.js';
import { commandLine, processTree } from '../../bench/lib/proc.js';
import { metricValue } from '../../bench/lib/service-process.js';
import { startPetrelProcess } from '../support/petrel-process.js';
import { ProcessGroup } from '../support/send-load.js';
import { RawDevice } from '../support/raw-device.js';
import { cleanupPrefix, createTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

describe('petrel processes', () => {
  it('petrel gateway: a device authenticates; SIGTERM drains it with BYE 4007 and the process exits 0', async () => {
    const prefix = uniquePrefix('proc');
    const redis = createTestRedis();
    const created = await new AppStore(redis, new RedisKeys(prefix)).create('process test');
    const gw = await startPetrelProcess('gateway', {
      PETREL_REDIS_URL: testRedisUrl(),
      PETREL_REDIS_KEY_PREFIX: prefix,
      PETREL_DEVICE_KEY: randomBytes(32).toString('base64'),
      PETREL_GATEWAY_HOST: '127.0.0.1',
      PETREL_GATEWAY_PORT: '0',
    });
    try {
      const dev = await RawDevice.connect(gw.port('tcp'));
      await dev.hello(await dev.register(created.app.id, created.app.clientKey));
      dev.send({ t: FrameType.PING });
      await dev.nextOf(FrameType.PONG);
      gw.child.kill('SIGTERM');
      const bye = await dev.closed;
      assert.equal(bye?.code, CloseCode.DRAINING);
      assert.ok(bye.retry !== undefined && bye.retry >= 0 && bye.retry <= 30_000, 'retry within the default drain spread');
      assert.equal(await gw.exited, 0);
    } finally {
      gw.child.kill('SIGKILL');
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });

  it('petrel all: prints where it listens, writes the demo app, serves health, stops on SIGINT', async () => {
    const prefix = uniquePrefix('all');
    const dataDir = mkdtempSync(join(tmpdir(), 'petrel-all-'));
    const all = await startPetrelProcess('all', {
      PETREL_REDIS_URL: testRedisUrl(),
      PETREL_REDIS_KEY_PREFIX: prefix,
      PETREL_DATA_DIR: dataDir,
      PETREL_GATEWAY_HOST: '127.0.0.1',
      PETREL_GATEWAY_PORT: '0',
      PETREL_HTTP_HOST: '127.0.0.1',
      PETREL_HTTP_PORT: '0',
    });
    const redis = createTestRedis();
    try {
      const demo = JSON.parse(readFileSync(join(dataDir, 'demo-app.json'), 'utf8')) as { appId: string; clientKey: string; serverSecret: string };
      assert.deepEqual(Object.keys(demo).sort(), ['appId', 'clientKey', 'serverSecret']);
      assert.ok(all.output().includes(demo.appId) && all.output().includes(demo.serverSecret), 'banner shows the demo credentials');
      assert.ok(existsSync(join(dataDir, 'device-key')), 'a device key was created for the all-in-one mode');
      const health = await fetch(`http://127.0.0.1:${all.port('http')}/healthz`);
      assert.equal(health.status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${all.port('http')}/readyz`)).status, 200);
      assert.match(await (await fetch(`http://127.0.0.1:${all.port('http')}/metrics`)).text(), /petrel_gateway_connections/);
      const dev = await RawDevice.connect(all.port('tcp'));
      const creds = await dev.register(demo.appId, demo.clientKey);
      await dev.hello(creds);
      // The demo credentials send: POST with the printed server secret reaches the device.
      const sent = await fetch(`http://127.0.0.1:${all.port('http')}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${demo.serverSecret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: { devices: [creds.deviceId] }, notification: { title: 'Hello', body: 'from petrel all' } }),
      });
      assert.equal(sent.status, 202);
      const push = await dev.nextOf(FrameType.PUSH, 5000);
      assert.deepEqual(push.n, { title: 'Hello', body: 'from petrel all' });
      dev.destroy();
      all.child.kill('SIGINT');
      assert.equal(await all.exited, 0);
    } finally {
      all.child.kill('SIGKILL');
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });

  it('separate processes: api, dispatcher and two gateways route each message to the gateway holding its device', async () => {
    const prefix = uniquePrefix('split');
    const redis = createTestRedis();
    const created = await new AppStore(redis, new RedisKeys(prefix)).create('split test');
    const env = { PETREL_REDIS_URL: testRedisUrl(), PETREL_REDIS_KEY_PREFIX: prefix, PETREL_REGISTRY_TTL_MS: '3000' };
    const deviceKey = randomBytes(32).toString('base64');
    const gatewayEnv = { ...env, PETREL_DEVICE_KEY: deviceKey, PETREL_GATEWAY_HOST: '127.0.0.1', PETREL_GATEWAY_PORT: '0' };
    // A group: if one fails to start, killAll() stops the others (left running, their
    // pipes would keep the test run alive for ever).
    const group = new ProcessGroup(env);
    try {
      const [api, gw1, gw2] = await Promise.all([
        group.start('api', { PETREL_HTTP_HOST: '127.0.0.1', PETREL_HTTP_PORT: '0' }),
        group.start('gateway', gatewayEnv),
        group.start('gateway', gatewayEnv),
        group.start('dispatcher'),
      ]);
      const devices = await Promise.all([gw1, gw2].map(async (gw) => {
        const dev = await RawDevice.connect(gw.port('tcp'));
        const creds = await dev.register(created.app.id, created.app.clientKey);
        await dev.hello(creds);
        return { dev, creds };
      }));
      const url = `http://127.0.0.1:${api.port('http')}/v1/messages`;
      const headers = { authorization: `Bearer ${created.serverSecret}`, 'content-type': 'application/json' };
      for (const [i, { dev, creds }] of devices.entries()) {
        // Sent right after WELCOME, possibly before the gateway's ONLINE report: then the
        // message waits in the inbox and the report's replay delivers it. Either way it arrives.
        const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ to: { devices: [creds.deviceId] }, data: { for: i } }) });
        assert.equal(res.status, 202);
        const { id } = (await res.json()) as { id: string };
        const push = await dev.nextOf(FrameType.PUSH, 5000);
        assert.equal(push.id, id);
        assert.deepEqual(push.data, { for: i });
        dev.send({ t: FrameType.ACK, ids: [id] });
        let state = '';
        for (let tries = 0; tries < 100 && state !== 'completed'; tries++) {
          const trace = (await (await fetch(`${url}/${id}`, { headers })).json()) as { state: string };
          state = trace.state;
          if (state !== 'completed') await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(state, 'completed');
      }
      for (const { dev } of devices) dev.destroy();
    } finally {
      await group.killAll();
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });

  it('petrel api with http.workers 2: both workers serve one port, /metrics covers them, a dead worker is replaced, Ctrl-C stops all cleanly', async () => {
    const prefix = uniquePrefix('workers');
    const redis = createTestRedis();
    const created = await new AppStore(redis, new RedisKeys(prefix)).create('workers test');
    const api = await startPetrelProcess('api', {
      PETREL_REDIS_URL: testRedisUrl(),
      PETREL_REDIS_KEY_PREFIX: prefix,
      PETREL_DEVICE_KEY: randomBytes(32).toString('base64'),
      PETREL_HTTP_HOST: '127.0.0.1',
      PETREL_HTTP_PORT: '0',
      PETREL_HTTP_WORKERS: '2',
    }, 20_000, { group: true });
    const workers = () => processTree(api.child.pid!).filter((pid) => pid !== api.child.pid && commandLine(pid).includes('petrel.ts'));
    try {
      assert.match(api.output(), /workers\s+2 API processes/);
      assert.equal(workers().length, 2);
      const port = api.port('http');
      const headers = { authorization: `Bearer ${created.serverSecret}`, 'content-type': 'application/json' };
      // A connection per request: the primary hands new connections to the workers in turn.
      const send = (i: number) => post(port, '/v1/messages', headers, { to: { aliases: [`user-${i}`] }, data: { i } });
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));
      assert.deepEqual(statuses, Array(20).fill(202));
      // Each worker counted its own share, labelled by worker; whichever worker serves the
      // scrape, it has both.
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.equal(metricValue(text, 'petrel_messages_accepted_total'), 20);
      assert.equal(text.split('\n').filter((l) => l.startsWith('petrel_messages_accepted_total{worker=')).length, 2, text);

      const [victim] = workers();
      process.kill(victim!, 'SIGKILL');
      // The replacement answers for its registry once it is up: two workers' series again.
      const workerLabels = async () => new Set((await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).match(/worker="\d+"/g)).size;
      const deadline = Date.now() + 15_000;
      while (!(workers().length === 2 && !workers().includes(victim!) && (await workerLabels()) === 2)) {
        assert.ok(Date.now() < deadline, 'a new worker replaced the killed one');
        await new Promise((r) => setTimeout(r, 100));
      }
      const after = await Promise.all(Array.from({ length: 4 }, (_, i) => send(100 + i)));
      assert.deepEqual(after, Array(4).fill(202));

      // Ctrl-C in a terminal: the whole process group gets SIGINT, while requests are in
      // flight; every worker stops cleanly (the primary exits 1 if one did not).
      const left = workers();
      const inFlight = Promise.allSettled(Array.from({ length: 200 }, (_, i) => send(1000 + i)));
      await new Promise((r) => setTimeout(r, 20));
      process.kill(-api.child.pid!, 'SIGINT');
      const answers = await inFlight;
      assert.equal(await api.exited, 0, api.output());
      // Requests already taken were answered; the rest were refused, never half-done.
      assert.ok(answers.every((a) => a.status === 'rejected' || a.value === 202 || a.value === 503), JSON.stringify(answers.map((a) => (a.status === 'fulfilled' ? a.value : 'refused'))));
      assert.deepEqual(left.filter((pid) => existsSync(`/proc/${pid}`)), [], 'no worker outlives the primary');
    } finally {
      if (api.child.exitCode === null) process.kill(-api.child.pid!, 'SIGKILL');
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });

  it('petrel api with http.workers 2 on a taken port: exits 1 with the bind error; petrel all refuses workers', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const env = { PETREL_REDIS_URL: testRedisUrl(), PETREL_DEVICE_KEY: randomBytes(32).toString('base64'), PETREL_HTTP_HOST: '127.0.0.1', PETREL_HTTP_WORKERS: '2' };
    try {
      const api = await startPetrelProcess('api', { ...env, PETREL_HTTP_PORT: String((taken.address() as net.AddressInfo).port) }).then(
        () => assert.fail('started on a taken port'),
        (err: Error) => err,
      );
      assert.match(api.message, /exited with 1: petrel: \[EADDRINUSE\]/);
      assert.doesNotMatch(api.message, /Unhandled 'error' event/);
      const all = await startPetrelProcess('all', { ...env, PETREL_HTTP_PORT: '0' }).then(() => assert.fail('petrel all started with workers'), (err: Error) => err);
      assert.match(all.message, /only `petrel api` runs several processes/);
    } finally {
      taken.close();
    }
  });
});

/** POST over a connection of its own (no keep-alive agent); resolves with the status. */
function post(port: number, path: string, headers: Record<string, string>, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
