import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Heartbeat } from '../../sdk-client/src/connection-loop/heartbeat.js';

describe('Heartbeat', () => {
  // Heartbeat timers are unref'd (the socket keeps a real client's process alive); here
  // nothing else would, so hold the event loop open for the duration of the suite.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => undefined, 1_000);
  });
  after(() => clearInterval(keepAlive));

  it('pings every interval while the link answers', async () => {
    let pings = 0;
    let dead = false;
    const hb: Heartbeat = new Heartbeat(
      10,
      1_000,
      () => {
        pings++;
        hb.touch(); // the gateway's PONG
      },
      () => (dead = true),
    );
    hb.start();
    while (pings < 3) await new Promise((r) => setTimeout(r, 5));
    hb.stop();
    assert.equal(dead, false);
  });

  it('declares the link dead after deadAfterMs without inbound traffic', async () => {
    let pings = 0;
    await new Promise<void>((resolve) => {
      const hb = new Heartbeat(10, 40, () => pings++, resolve);
      hb.start();
    });
    assert.ok(pings >= 1, 'pinged before giving up');
  });

  it('does nothing after stop()', async () => {
    let fired = false;
    const hb = new Heartbeat(5, 10, () => (fired = true), () => (fired = true));
    hb.start();
    hb.stop();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fired, false);
  });
});
