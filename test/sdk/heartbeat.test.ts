import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Heartbeat, type HeartbeatOwner } from '../../sdk-client/src/connection-loop/heartbeat.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Records what the heartbeat asked for; `onPing` plays the gateway. */
class Owner implements HeartbeatOwner {
  pings = 0;
  deadlines = 0;
  deadlineAt = 0;
  onPing: (() => void) | null = null;
  private waiters: (() => void)[] = [];

  onPingDue(): void {
    this.pings++;
    this.onPing?.();
  }

  onDeadline(): void {
    this.deadlines++;
    this.deadlineAt = Date.now();
    for (const w of this.waiters.splice(0)) w();
  }

  deadline(): Promise<void> {
    return this.deadlines > 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

describe('Heartbeat', () => {
  // Heartbeat timers are unref'd (the socket keeps a real client's process alive); here
  // nothing else would, so hold the event loop open for the duration of the suite.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => undefined, 1_000);
  });
  after(() => clearInterval(keepAlive));

  it('pings every interval while the link answers', async () => {
    const owner = new Owner();
    const hb = new Heartbeat(owner);
    owner.onPing = () => hb.touch(); // the gateway's PONG
    hb.start(10, 1_000);
    while (owner.pings < 3) await sleep(5);
    hb.stop();
    assert.equal(owner.deadlines, 0);
  });

  it('declares the link dead after deadAfterMs without inbound traffic', async () => {
    const owner = new Owner();
    new Heartbeat(owner).start(10, 40);
    await owner.deadline();
    assert.ok(owner.pings >= 1, 'pinged before giving up');
    await sleep(30);
    assert.equal(owner.deadlines, 1, 'reported once, then silent');
  });

  it('does nothing after stop()', async () => {
    const owner = new Owner();
    const hb = new Heartbeat(owner);
    hb.start(5, 10);
    hb.stop();
    await sleep(30);
    assert.equal(owner.pings + owner.deadlines, 0);
  });

  describe('connect deadline (before start)', () => {
    it('reports the deadline once, without pinging', async () => {
      const owner = new Owner();
      const startedAt = Date.now();
      new Heartbeat(owner).startDeadline(30);
      await owner.deadline();
      assert.ok(owner.deadlineAt - startedAt >= 29, `fired after ${owner.deadlineAt - startedAt} ms`);
      await sleep(30);
      assert.deepEqual([owner.pings, owner.deadlines], [0, 1]);
    });

    it('is not extended by inbound frames: only start() lifts it', async () => {
      const owner = new Owner();
      const hb = new Heartbeat(owner);
      hb.startDeadline(40);
      // Were touches counted, a frame every 5 ms would keep a 40 ms deadline from ever passing.
      const toucher = setInterval(() => hb.touch(), 5);
      const fired = await Promise.race([owner.deadline().then(() => true), sleep(2_000).then(() => false)]);
      clearInterval(toucher);
      assert.ok(fired, 'touch() before start() did not push the deadline back');
    });

    it('start() replaces the deadline even when the old timer fires first', async () => {
      const owner = new Owner();
      const hb = new Heartbeat(owner);
      owner.onPing = () => hb.touch();
      hb.startDeadline(20); // fires before the first PING is due: kept, then re-armed
      hb.start(50, 1_000);
      // Two PINGs (~100 ms) are well past the old 20 ms deadline.
      while (owner.pings < 2) await sleep(5);
      hb.stop();
      assert.equal(owner.deadlines, 0, 'the connect deadline no longer applies');
    });

    it('start() re-arms sooner when the heartbeat is due before the deadline', async () => {
      const owner = new Owner();
      const hb = new Heartbeat(owner);
      hb.startDeadline(5_000);
      const startedAt = Date.now();
      hb.start(10, 30);
      await owner.deadline();
      assert.ok(owner.deadlineAt - startedAt < 1_000, 'silence detected on the heartbeat schedule, not at the old deadline');
      assert.ok(owner.pings >= 1);
    });
  });
});
