import type { Redis } from 'ioredis';

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** Redis's own counters at one moment (INFO all): commands by name, socket reads, CPU seconds. */
export interface RedisSnapshot {
  commands: Map<string, number>;
  reads: number;
  cpu: number;
}

export async function redisSnapshot(redis: Redis): Promise<RedisSnapshot> {
  const text = await redis.info('all');
  const commands = new Map<string, number>();
  let reads = 0;
  let cpu = 0;
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) commands.set(m[1]!, Number(m[2]));
    else if (line.startsWith('total_reads_processed:')) reads = Number(line.slice(22));
    else if (line.startsWith('used_cpu_sys:') || line.startsWith('used_cpu_user:')) cpu += Number(line.slice(line.indexOf(':') + 1));
  }
  return { commands, reads, cpu };
}

export async function redisPid(redis: Redis): Promise<number> {
  const m = /process_id:(\d+)/.exec(await redis.info('server'));
  return Number(m?.[1]);
}

export interface RedisFigures {
  /** Every command Redis executed, per message: those run inside scripts and MULTI included. */
  commandsPerMessage: number;
  /** EVAL/EVALSHA calls per message (each one round trip's worth of a script). */
  scriptCallsPerMessage: number;
  /** Socket reads Redis processed per message: about the round trips (pipelines count once). */
  readsPerMessage: number;
  redisCpuMicrosPerMessage: number;
  /** Commands per message by name, largest first. */
  byCommand: Record<string, number>;
}

export function redisFigures(a: RedisSnapshot, b: RedisSnapshot, messages: number): RedisFigures {
  const delta: Array<[string, number]> = [];
  for (const [name, calls] of b.commands) {
    // Our own INFO calls are not the service's.
    if (name === 'info') continue;
    const d = calls - (a.commands.get(name) ?? 0);
    if (d > 0) delta.push([name, d]);
  }
  delta.sort((x, y) => y[1] - x[1]);
  const total = delta.reduce((s, [, d]) => s + d, 0);
  const scripts = delta.filter(([n]) => n === 'eval' || n === 'evalsha' || n.startsWith('fcall')).reduce((s, [, d]) => s + d, 0);
  const per = (x: number) => round(x / Math.max(1, messages), 2);
  return {
    commandsPerMessage: per(total),
    scriptCallsPerMessage: per(scripts),
    readsPerMessage: per(b.reads - a.reads),
    redisCpuMicrosPerMessage: round(((b.cpu - a.cpu) * 1e6) / Math.max(1, messages)),
    byCommand: Object.fromEntries(delta.map(([n, d]) => [n, per(d)])),
  };
}
