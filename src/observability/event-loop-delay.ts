import { createHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** How often the event loop is probed: 100 ms shows lag that matters without waking an idle process often. */
export const EVENT_LOOP_PROBE_MS = 100;

const STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/**
 * The `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds` gauges, measuring
 * how late the loop ran a timer, which is what the names promise. prom-client feeds them
 * from node's monitorEventLoopDelay, which records the whole interval between its timer's
 * runs, probe period included (an idle process read a p99 of 100 ms at a 100 ms probe),
 * and misses a loop blocked in a promise continuation of another timer (a 300 ms block
 * read as 0.3 ms here). These replace prom-client's gauges of the same names, so
 * dashboards keep working, with a plain interval timer whose lateness is recorded.
 */
export function registerEventLoopDelay(registry: Registry, prefix: string): void {
  const histogram = createHistogram();
  let last = performance.now();
  // unref: the probe must not keep a process alive that has nothing else to do.
  setInterval(() => {
    const now = performance.now();
    // In ns, at least 1: the histogram takes positive integers.
    histogram.record(Math.max(1, Math.round((now - last - EVENT_LOOP_PROBE_MS) * 1e6)));
    last = now;
  }, EVENT_LOOP_PROBE_MS).unref();
  const seconds = (ns: number) => ns / 1e9;
  const values: Record<(typeof STATS)[number], number> = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  let sampledAt = -Infinity;
  /** One sample per scrape: the gauges of one scrape are collected within a few ms of one another. */
  const sample = () => {
    if (performance.now() - sampledAt < EVENT_LOOP_PROBE_MS) return;
    sampledAt = performance.now();
    if (histogram.count > 0) {
      Object.assign(values, {
        min: seconds(histogram.min), max: seconds(histogram.max), mean: seconds(histogram.mean), stddev: seconds(histogram.stddev),
        p50: seconds(histogram.percentile(50)), p90: seconds(histogram.percentile(90)), p99: seconds(histogram.percentile(99)),
      });
    }
    histogram.reset();
  };
  for (const stat of STATS) {
    const name = `${prefix}nodejs_eventloop_lag_${stat}_seconds`;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: `The ${stat} of how late the event loop ran a ${EVENT_LOOP_PROBE_MS} ms timer since the last scrape, in seconds.`,
      registers: [registry],
      collect(this: Gauge) {
        sample();
        this.set(values[stat]);
      },
    });
  }
}
