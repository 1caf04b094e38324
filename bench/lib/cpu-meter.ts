import { allProcessCpu, commandLine, cpuSeconds, machineCpuSeconds } from './proc.js';

/** CPU seconds so far of named groups of processes, of the machine and of every process. */
export interface CpuSnapshot {
  at: number;
  groups: Record<string, number>;
  machineBusy: number;
  all: Map<number, { name: string; seconds: number }>;
}

export interface CpuFigures {
  /** Percent of one core over the window, per named group. */
  percent: Record<string, number>;
  machineBusyPercent: number;
  /** Processes that are not part of the benchmark (another engineer's test run...). */
  otherProcessesPercent: number;
  otherProcesses: Array<{ pid: number; command: string; percent: number }>;
}

const round1 = (n: number) => Number(n.toFixed(1));

/**
 * CPU of a benchmark's processes by role (service, Redis, load generator…) over a window,
 * and of everything else on the machine, which makes a window's figures noisy.
 */
export class CpuMeter {
  private readonly ours: Set<number>;

  /** `groups`: role → pids; this process is counted as `orchestrator`. */
  constructor(private readonly groups: Record<string, number[]>) {
    this.ours = new Set([...Object.values(groups).flat(), process.pid]);
  }

  snapshot(): CpuSnapshot {
    const u = process.cpuUsage();
    const groups: Record<string, number> = { orchestrator: (u.user + u.system) / 1e6 };
    for (const [name, pids] of Object.entries(this.groups)) groups[name] = pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
    return { at: Date.now(), groups, machineBusy: machineCpuSeconds().busy, all: allProcessCpu() };
  }

  figures(a: CpuSnapshot, b: CpuSnapshot): CpuFigures {
    const wall = Math.max(0.001, (b.at - a.at) / 1000);
    const pct = (x: number) => round1((x / wall) * 100);
    const others = otherProcesses(a.all, b.all, this.ours, wall);
    return {
      percent: Object.fromEntries(Object.keys(b.groups).map((g) => [g, pct(b.groups[g]! - (a.groups[g] ?? 0))])),
      machineBusyPercent: pct(b.machineBusy - a.machineBusy),
      ...others,
    };
  }
}

/**
 * CPU used between two allProcessCpu() readings `wall` seconds apart by processes not in
 * `ours`, in percent of a core: the total and the five busiest, named by command line.
 */
export function otherProcesses(
  a: Map<number, { name: string; seconds: number }>,
  b: Map<number, { name: string; seconds: number }>,
  ours: ReadonlySet<number>,
  wall: number,
): { otherProcessesPercent: number; otherProcesses: Array<{ pid: number; command: string; percent: number }> } {
  const pct = (x: number) => round1((x / wall) * 100);
  const others: Array<{ pid: number; command: string; percent: number }> = [];
  let otherSeconds = 0;
  for (const [pid, p] of b) {
    if (ours.has(pid)) continue;
    const used = p.seconds - (a.get(pid)?.seconds ?? 0);
    if (used <= 0) continue;
    otherSeconds += used;
    others.push({ pid, command: (commandLine(pid) || p.name).slice(0, 100), percent: pct(used) });
  }
  others.sort((x, y) => y.percent - x.percent);
  return { otherProcessesPercent: pct(otherSeconds), otherProcesses: others.slice(0, 5) };
}

/** What waitForQuiet needs of a CPU meter (this file's CpuMeter, or a benchmark's own). */
export interface OtherProcessesMeter<S> {
  snapshot(): S;
  figures(a: S, b: S): { otherProcessesPercent: number; otherProcesses: ReadonlyArray<{ command: string }> };
}

/**
 * Waits (up to `maxWaitSec`) until processes outside the benchmark use less than
 * `noiseShare` of a core for a second, so a measured phase does not start while something
 * else runs; past the wait it measures anyway (the figures are then flagged noisy).
 */
export async function waitForQuiet<S>(cpu: OtherProcessesMeter<S>, options: { maxWaitSec: number; noiseShare: number; log: (text: string) => void }): Promise<void> {
  const deadline = Date.now() + options.maxWaitSec * 1000;
  for (let said = false; ; said = true) {
    const a = cpu.snapshot();
    await new Promise((r) => setTimeout(r, 1000));
    const f = cpu.figures(a, cpu.snapshot());
    if (f.otherProcessesPercent <= options.noiseShare * 100) return;
    if (Date.now() > deadline) {
      options.log(`other processes still busy (${f.otherProcessesPercent} % of a core); measuring anyway, figures will be noisy`);
      return;
    }
    if (!said) options.log(`waiting for other processes to go quiet (${f.otherProcessesPercent} % of a core, e.g. ${f.otherProcesses[0]?.command ?? '?'})…`);
  }
}
