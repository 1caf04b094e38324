import type { Redis } from 'ioredis';
import type { RedisScript } from './redis-script.js';

interface Pending {
  script: RedisScript;
  keys: readonly string[];
  args: ReadonlyArray<string | number | Buffer>;
  retried: boolean;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Sends the script calls made within a short window as one pipeline: one write and one
 * read for all of them. ioredis's auto-pipelining flushes on process.nextTick, i.e. after
 * each I/O callback, and every HELLO arrives in a callback of its own, so each would pay a
 * socket write (and a wake-up of Redis) of its own: measured here, 94 µs of the gateway's
 * ~340 µs per connect. With `windowMs` 0 the window is one event-loop turn (setImmediate
 * runs once after the poll phase delivered every ready socket), which only batches when
 * the process is saturated; a window of a few milliseconds also batches moderate load, at
 * that much added latency. A batch is sent at once when it reaches `maxBatch`.
 */
export class TurnPipeline {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly windowMs = 0,
    private readonly maxBatch = 256,
  ) {}

  run(script: RedisScript, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown> {
    return new Promise((resolve, reject) => this.enqueue({ script, keys, args, retried: false, resolve, reject }));
  }

  private enqueue(command: Pending): void {
    this.pending.push(command);
    if (this.pending.length >= this.maxBatch) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      if (this.windowMs > 0) setTimeout(() => this.flush(), this.windowMs);
      else setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    // A full batch flushes early; the timer still scheduled then finds little or nothing.
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const pipeline = this.redis.pipeline();
    // numberOfKeys -1: a script taking as many keys as the call passes.
    // One argument array, not spread arguments: an intake batch may carry tens of
    // thousands of values (messages_create_n), past what a call's arguments may number.
    for (const c of batch) {
      pipeline.call('EVALSHA', ([c.script.sha, c.script.numberOfKeys < 0 ? c.keys.length : c.script.numberOfKeys] as Array<string | number | Buffer>).concat(c.keys, c.args));
    }
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
