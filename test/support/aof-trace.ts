// What a power cut would leave of Redis's append-only file, measured rather than assumed.
//
// kill -9 of redis-server loses nothing its write() calls handed to the kernel: the page
// cache outlives the process. A crash of the host (power, kernel panic) keeps only what an
// fsync made durable, and that is where `appendfsync everysec` and `always` differ. This
// machine cannot cut its own power, so the tests run redis-server under strace, record
// every write to the AOF and every fdatasync with their times, and at the instant of a
// kill -9 compute how much of the file was durable: the size it had when the last fsync
// that had completed by then began. Truncating the file to that size before the restart
// gives the state a power cut at that instant would have left.

import { readFileSync } from 'node:fs';

/** The strace command that records the AOF writes and fsyncs of the redis-server it runs. */
export function aofStraceLauncher(logFile: string): string[] {
  return [
    'strace', '-f', '--seccomp-bpf', // every thread (fsyncs run in a background thread); stop only on the traced calls
    '-ttt', '-T', // entry time (epoch µs) and duration of each call
    '-y', // fds with their paths: the AOF's lines name the .incr.aof file
    '-qq', '-e', 'signal=none', '-e', 'trace=write,fdatasync,fsync',
    '-o', logFile,
  ];
}

export interface AofTrace {
  /** write() calls to the AOF: entry time (epoch ms) and bytes written. */
  writes: Array<{ at: number; end: number; bytes: number }>;
  /** fsync/fdatasync calls on the AOF: entry and return times (epoch ms). */
  fsyncs: Array<{ start: number; end: number }>;
}

const LINE = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/;
const DURATION = /<(\d+\.\d+)>\s*$/;

/** Parses `aofStraceLauncher`'s log: only the calls on the incremental AOF file. */
export function parseAofTrace(logFile: string): AofTrace {
  const trace: AofTrace = { writes: [], fsyncs: [] };
  /** fsyncs split by strace into `<unfinished ...>` and `<... resumed>`: start time by thread. */
  const unfinished = new Map<string, number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, tid, seconds, call] = m as unknown as [string, string, string, string];
    const at = Number(seconds) * 1000;
    const duration = Number(DURATION.exec(call)?.[1] ?? 0) * 1000;
    if (/^<\.\.\. f(data)?sync resumed>/.test(call)) {
      const start = unfinished.get(tid);
      unfinished.delete(tid);
      if (start !== undefined && / = 0 </.test(call)) trace.fsyncs.push({ start, end: at });
      continue;
    }
    if (!call.includes('.incr.aof>')) continue;
    if (/^f(data)?sync\(/.test(call)) {
      if (call.includes('<unfinished ...>')) unfinished.set(tid, at);
      else if (/ = 0 </.test(call)) trace.fsyncs.push({ start: at, end: at + duration });
    } else if (call.startsWith('write(')) {
      const written = /\) = (\d+) </.exec(call);
      if (written) trace.writes.push({ at, end: at + duration, bytes: Number(written[1]) });
    }
  }
  trace.fsyncs.sort((a, b) => a.start - b.start);
  return trace;
}

export interface Durability {
  /** Bytes of the AOF an fsync completed by `at` had made durable. */
  durable: number;
  /** Start of the last fsync completed by `at` (epoch ms); what was written after it was at risk. */
  lastDurableFsyncStart: number;
}

/** The AOF's state at epoch ms `at`: what a power cut at that instant would have kept. */
export function durabilityAt(trace: AofTrace, at: number): Durability {
  const last = trace.fsyncs.filter((f) => f.end <= at).at(-1);
  if (last === undefined) return { durable: 0, lastDurableFsyncStart: -Infinity };
  // An fsync makes durable what was written before it began.
  const durable = trace.writes.filter((w) => w.end <= last.start).reduce((n, w) => n + w.bytes, 0);
  return { durable, lastDurableFsyncStart: last.start };
}

/** The longest stretch between the starts of consecutive fsyncs while writes were coming (ms). */
export function longestFsyncGap(trace: AofTrace, from: number, to: number): number {
  const starts = trace.fsyncs.map((f) => f.start).filter((s) => s >= from && s <= to);
  let gap = 0;
  for (let i = 1; i < starts.length; i++) gap = Math.max(gap, starts[i]! - starts[i - 1]!);
  return gap;
}
