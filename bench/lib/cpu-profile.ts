import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock (the one process.hrtime reads). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  function: string;
  /** file:line, relative to the repository where possible. */
  location: string;
  selfMs: number;
  /** Share of the window's samples, including idle and GC. */
  percent: number;
  /** Share of the samples in which the process was working (neither idle nor "program"). */
  percentOfBusy: number;
  /** Where it was called from: the first caller frames of our code or a dependency, heaviest first. */
  callers: Array<{ via: string; selfMs: number }>;
}

export interface ProfileSummary {
  /** The window actually covered, ms (whole profile when the window missed it). */
  windowMs: number;
  windowMatched: boolean;
  /** Samples that were neither (idle) nor (program): the process working, ms. */
  busyMs: number;
  top: SelfTime[];
  /**
   * Busy time by what the sample's stack started in (outermost frame): a package of
   * node_modules, our code (src/), node internals, or GC; percent of busy.
   */
  byEntry: Record<string, number>;
}

/** A process-wide monotonic timestamp in microseconds, comparable with a .cpuprofile's. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Self time per function of a V8 .cpuprofile (node --cpu-prof) within [fromUs, toUs]
 * (monotonic microseconds, see monotonicMicros), the top `n` by self time. A sample's
 * self time is the gap to the next sample.
 */
export function topSelfTime(file: string, fromUs: number, toUs: number, n: number, root = ''): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const frameName = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^file:\/\//, '').replace(root, '')}:${lineNumber + 1}` : '';
    return { fn: functionName || '(anonymous)', location: where };
  };
  // Caller chain of a sample: the three nearest frames that are files (not node: internals).
  const via = (id: number): string => {
    const out: string[] = [];
    for (let p = parentOf.get(id); p !== undefined && out.length < 3; p = parentOf.get(p)) {
      const f = frameName(byId.get(p)!);
      if (f.location && !f.location.startsWith('node:')) out.push(`${f.fn} ${f.location}`);
    }
    return out.join(' ← ');
  };
  const windowMatched = fromUs >= profile.startTime && toUs <= profile.endTime && toUs > fromUs;
  const from = windowMatched ? fromUs : profile.startTime;
  const to = windowMatched ? toUs : profile.endTime;
  const self = new Map<string, { fn: string; location: string; us: number; callers: Map<string, number> }>();
  let total = 0;
  let busy = 0;
  const byOuter = new Map<string, number>();
  // The outermost frame of a stack that is a package or our code, else node internals.
  const entryOf = (id: number): string => {
    let found = '';
    for (let p: number | undefined = id; p !== undefined; p = parentOf.get(p)) {
      const url = byId.get(p)!.callFrame.url;
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
      if (pkg) found = pkg[1]!;
      else if (/\/src\//.test(url) && !url.includes('node_modules')) found = 'petrel (src/)';
    }
    return found || 'node internals';
  };
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const next = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1]! : 0;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const { fn, location } = frameName(node);
    const key = `${fn} ${location}`;
    const entry = self.get(key) ?? { fn, location, us: 0, callers: new Map<string, number>() };
    entry.us += next;
    const chain = via(node.id);
    entry.callers.set(chain, (entry.callers.get(chain) ?? 0) + next);
    self.set(key, entry);
    total += next;
    if (fn !== '(idle)' && fn !== '(program)') {
      busy += next;
      const e = fn === '(garbage collector)' ? 'GC' : entryOf(node.id);
      byOuter.set(e, (byOuter.get(e) ?? 0) + next);
    }
  }
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((e) => ({
      function: e.fn,
      location: e.location,
      selfMs: Math.round(e.us / 1000),
      percent: Number(((e.us / Math.max(1, total)) * 100).toFixed(1)),
      percentOfBusy: e.fn === '(idle)' || e.fn === '(program)' ? 0 : Number(((e.us / Math.max(1, busy)) * 100).toFixed(1)),
      callers: [...e.callers].sort((a, b) => b[1] - a[1]).slice(0, 3).filter(([chain]) => chain !== '').map(([chain, us]) => ({ via: chain, selfMs: Math.round(us / 1000) })),
    }));
  const byEntry = Object.fromEntries(
    [...byOuter].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, Number(((us / Math.max(1, busy)) * 100).toFixed(1))]),
  );
  return { windowMs: Math.round((to - from) / 1000), windowMatched, busyMs: Math.round(busy / 1000), top, byEntry };
}
