import { rssBytes, sleep } from './proc.js';

export interface MemoryFigures {
  /** Least-squares slope of RSS (after GC) over the fleet's four quarters: marginal cost. */
  marginalBytes: number;
  /** (RSS after all − RSS before) / all, after a full GC: includes fixed heap growth. */
  averageBytes: number;
  /** Like averageBytes but right after the last burst, before any forced GC. */
  burstBytes: number;
}

/**
 * Connects a fleet in four quarters and reads the RSS of `pids` (summed: several gateway
 * processes hold one fleet) after each, after a GC through `collect`. The slope over those
 * four points is the marginal cost of a connection: free of fixed costs such as V8's young
 * generation growing to its maximum during the first burst (they sit in the intercept),
 * and steadier than a difference of two readings when a GC happens to hand pages back to
 * the system. `connectQuarter(q)` connects the q-th quarter and resolves to how many connected.
 */
export async function measureMemory(
  pids: readonly number[],
  collect: () => Promise<unknown>,
  connectQuarter: (quarter: number) => Promise<number>,
): Promise<MemoryFigures & { connected: number; seconds: number }> {
  const rss = () => pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
  const settled = async () => {
    await collect();
    await sleep(500);
    return rss();
  };
  const before = await settled();
  const points: Array<[number, number]> = [];
  let connected = 0;
  let seconds = 0;
  let burst = before;
  for (let q = 0; q < 4; q++) {
    const t = Date.now();
    connected += await connectQuarter(q);
    seconds += (Date.now() - t) / 1000;
    await sleep(2000);
    burst = rss();
    points.push([connected, await settled()]);
  }
  return {
    connected,
    seconds,
    marginalBytes: slope(points),
    averageBytes: (points[3]![1] - before) / connected,
    burstBytes: (burst - before) / connected,
  };
}

function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxy / sxx;
}

/** The q-th of four near-equal quarters of `items`. */
export function quarter<T>(items: readonly T[], q: number): T[] {
  const size = Math.ceil(items.length / 4);
  return items.slice(q * size, (q + 1) * size);
}
