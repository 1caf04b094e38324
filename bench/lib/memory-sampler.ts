import type { Redis } from 'ioredis';
import { rssBytes } from './proc.js';

const MB = 2 ** 20;
const round1 = (n: number) => Number(n.toFixed(1));

/** One reading: ms since the sampler started, phase, RSS per process (MB), Redis used_memory (MB). */
export interface MemorySample {
  t: number;
  phase: string;
  rssMB: Record<string, number>;
  redisUsedMB: number;
}

/**
 * Samples the RSS of named processes (Linux /proc) and Redis's own `used_memory` (INFO
 * memory) every `intervalMs`, tagged with the benchmark's current phase, and keeps the
 * peak of each per phase. Processes that are gone are skipped.
 */
export class MemorySampler {
  phase = 'idle';
  private readonly samples: MemorySample[] = [];
  private readonly peaks = new Map<string, Map<string, number>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  private busy = false;

  constructor(
    private readonly processes: Record<string, number>,
    private readonly redis: Redis,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    void this.sample();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sample(): Promise<MemorySample | null> {
    if (this.busy) return null;
    this.busy = true;
    try {
      const rssMB: Record<string, number> = {};
      for (const [name, pid] of Object.entries(this.processes)) {
        try {
          rssMB[name] = round1(rssBytes(pid) / MB);
        } catch {
          // Exited.
        }
      }
      const redisUsedMB = round1((await usedMemory(this.redis)) / MB);
      const s: MemorySample = { t: Date.now() - this.started, phase: this.phase, rssMB, redisUsedMB };
      this.samples.push(s);
      const peaks = this.peaks.get(this.phase) ?? new Map<string, number>();
      for (const [name, v] of [...Object.entries(rssMB), ['redis used_memory', redisUsedMB] as const]) peaks.set(name, Math.max(peaks.get(name) ?? 0, v));
      this.peaks.set(this.phase, peaks);
      return s;
    } finally {
      this.busy = false;
    }
  }

  /** Peak MB per process (and `redis used_memory`) in each phase and over all of them. */
  peakMB(): { byPhase: Record<string, Record<string, number>>; overall: Record<string, number> } {
    const overall = new Map<string, number>();
    const byPhase: Record<string, Record<string, number>> = {};
    for (const [phase, peaks] of this.peaks) {
      byPhase[phase] = Object.fromEntries(peaks);
      for (const [name, v] of peaks) overall.set(name, Math.max(overall.get(name) ?? 0, v));
    }
    return { byPhase, overall: Object.fromEntries(overall) };
  }

  /** Every `every`-th sample (the JSON keeps a thinned series; peaks use all of them). */
  series(every = 1): MemorySample[] {
    return this.samples.filter((_, i) => i % every === 0);
  }
}

/** Redis's `used_memory` (bytes): what its allocator holds for data and buffers. */
export async function usedMemory(redis: Redis): Promise<number> {
  const m = /used_memory:(\d+)/.exec(await redis.info('memory'));
  return Number(m?.[1] ?? 0);
}
