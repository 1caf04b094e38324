// The event-loop lag gauges report how late the loop ran, not the probe's own period
// (prom-client's, fed by monitorEventLoopDelay, read 100 ms on an idle process, and missed
// a 300 ms block).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerEventLoopDelay } from '../../src/observability/event-loop-delay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One gauge's value from a scrape of the whole registry, as Prometheus would read it. */
async function gauge(registry: Registry, name: string): Promise<number> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('event-loop lag gauges', () => {
  it('read near 0 on an idle loop and show a loop blocked for 300 ms', async () => {
    const registry = new Registry();
    registerEventLoopDelay(registry, 'test_');
    await sleep(1000);
    const idleP50 = await gauge(registry, 'test_nodejs_eventloop_lag_p50_seconds');
    assert.ok(idleP50 < 0.05, `idle median lag ${idleP50} s (the probe period is 0.1 s)`);
    // Blocked in a promise continuation of a timer: node's own probe missed this one.
    await sleep(50);
    const blockedUntil = Date.now() + 300;
    while (Date.now() < blockedUntil);
    await sleep(300);
    const max = await gauge(registry, 'test_nodejs_eventloop_lag_max_seconds');
    assert.ok(max >= 0.15 && max < 1, `a 300 ms block shows as ${max} s of lag`);
  });
});
