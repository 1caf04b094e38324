import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/**
 * Per-app session counts of the gateway processes, behind the per-app session limit
 * (docs/architecture.md, "Sessions per app"). Each process publishes its own counts under
 * a counter id of its own, random per process start, so a gateway restarted under the same
 * `gateway.id` never inherits what its previous run left behind, and keeps that id listed
 * in `session-counters` with a lapse time. Readers ignore the counts of a counter that
 * lapsed (its process died, or lost Redis) and delete them.
 */
export class SessionCountStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * One round trip: writes this process's counts (`counts`: apps it holds sessions of;
   * `emptied`: apps it published before and holds none of now), renews its lapse, and
   * reads the counts of `apps`. Resolves to app → sessions of the OTHER live processes.
   * Every count is written again each time, so the app hashes (expiring at twice the
   * lapse) live as long as some gateway holds sessions of the app.
   */
  async exchange(
    counter: string, counts: ReadonlyMap<string, number>, emptied: Iterable<string>, apps: readonly string[], lapseMs: number,
  ): Promise<Map<string, number>> {
    const now = Date.now();
    const counters = this.keys.sessionCounters();
    const p = this.redis.pipeline();
    p.zadd(counters, now + lapseMs, counter);
    // Counters that lapsed long ago: trimmed by whoever publishes (their app fields go below).
    p.zremrangebyscore(counters, '-inf', now - 10 * lapseMs);
    for (const [app, n] of counts) {
      p.hset(this.keys.appSessions(app), counter, n);
      p.pexpire(this.keys.appSessions(app), 2 * lapseMs);
    }
    for (const app of emptied) p.hdel(this.keys.appSessions(app), counter);
    // The hashes are read before the live counters: a process writes its lapse before its
    // counts, so a count seen here belongs to a counter that the read below finds live,
    // unless it really lapsed. A new gateway's counts are never taken for a dead one's.
    for (const app of apps) p.hgetall(this.keys.appSessions(app));
    p.zrangebyscore(counters, now, '+inf');
    const results = (await p.exec()) ?? [];
    const failed = results.find(([err]) => err !== null);
    if (failed) throw failed[0];
    const live = new Set((results[results.length - 1]?.[1] ?? []) as string[]);
    const first = results.length - 1 - apps.length;
    const others = new Map<string, number>();
    const dead: Array<[string, string]> = [];
    apps.forEach((app, i) => {
      const hash = (results[first + i]?.[1] ?? {}) as Record<string, string>;
      let sum = 0;
      for (const [field, value] of Object.entries(hash)) {
        if (field === counter) continue;
        if (live.has(field)) sum += Number(value) || 0;
        else dead.push([app, field]);
      }
      others.set(app, sum);
    });
    if (dead.length > 0) {
      const cleanup = this.redis.pipeline();
      for (const [app, field] of dead) cleanup.hdel(this.keys.appSessions(app), field);
      await cleanup.exec();
    }
    return others;
  }

  /** A process stopping cleanly: its counts stop counting at once rather than when they lapse. */
  async withdraw(counter: string, apps: Iterable<string>): Promise<void> {
    const p = this.redis.pipeline();
    p.zrem(this.keys.sessionCounters(), counter);
    for (const app of apps) p.hdel(this.keys.appSessions(app), counter);
    await p.exec();
  }
}
