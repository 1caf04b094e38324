import type { Redis } from 'ioredis';
import type { RedisScript } from './redis-script.js';

interface Pending {
  script: RedisScript;
  keys: readonly string[];
  args: ReadonlyArray<string | number>;
  retried: boolean;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Sends every script call made during one event-loop turn as one pipeline: one write and
 * one read for the whole turn. ioredis's auto-pipelining flushes on process.nextTick,
 * i.e. after each I/O callback, and every HELLO of a reconnect storm arrives in a callback
 * of its own, so each would pay a socket write of its own; setImmediate runs once after
 * the poll phase has delivered all ready sockets. Costs no latency: the flush happens in
 * the same loop iteration.
 */
export class TurnPipeline {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly redis: Redis) {}

  run(script: RedisScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return new Promise((resolve, reject) => this.enqueue({ script, keys, args, retried: false, resolve, reject }));
  }

  private enqueue(command: Pending): void {
    this.pending.push(command);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const pipeline = this.redis.pipeline();
    for (const c of batch) pipeline.evalsha(c.script.sha, c.script.numberOfKeys, ...c.keys, ...c.args);
    pipeline.exec().then(
      (results) => {
        const missing: Pending[] = [];
        batch.forEach((c, i) => {
          const [err, value] = results?.[i] ?? [new Error('pipeline discarded'), null];
          if (err && err.message.startsWith('NOSCRIPT') && !c.retried) missing.push(c);
          else if (err) c.reject(err);
          else c.resolve(value);
        });
        if (missing.length > 0) this.reload(missing);
      },
      (err: unknown) => {
        for (const c of batch) c.reject(err);
      },
    );
  }

  /** Redis lost its script cache (restart, SCRIPT FLUSH): load each script once, retry once. */
  private reload(commands: Pending[]): void {
    const scripts = [...new Set(commands.map((c) => c.script))];
    Promise.all(scripts.map((s) => this.redis.script('LOAD', s.lua))).then(
      () => {
        for (const c of commands) this.enqueue({ ...c, retried: true });
      },
      (err: unknown) => {
        for (const c of commands) c.reject(err);
      },
    );
  }
}
