import type { AudienceFilter } from '../domain/audience.js';

/** What the index needs of a session. */
export interface IndexedSession {
  readonly appId: string;
  /** Subscribed topics; null when none (most devices: no Set per idle session). */
  topics: Set<string> | null;
}

interface AppSessions<S> {
  all: Set<S>;
  byTopic: Map<string, Set<S>>;
}

/**
 * The gateway's local app → topic → sessions index (docs/architecture.md, "Broadcasts"):
 * a broadcast reaches a gateway once and is fanned out here, to the sessions of its app
 * whose topics match, without asking Redis who is subscribed.
 */
export class FanOutIndex<S extends IndexedSession> {
  private readonly apps = new Map<string, AppSessions<S>>();

  add(session: S): void {
    let app = this.apps.get(session.appId);
    if (!app) {
      app = { all: new Set(), byTopic: new Map() };
      this.apps.set(session.appId, app);
    }
    app.all.add(session);
    if (session.topics) for (const t of session.topics) this.link(app, t, session);
  }

  remove(session: S): void {
    const app = this.apps.get(session.appId);
    if (!app || !app.all.delete(session)) return;
    if (session.topics) for (const t of session.topics) this.unlink(app, t, session);
    if (app.all.size === 0) this.apps.delete(session.appId);
  }

  /** Sessions of one app here (the per-app session limit counts them). */
  sessionCount(appId: string): number {
    return this.apps.get(appId)?.all.size ?? 0;
  }

  /** A session's topics changed (its own SUB/UNSUB, or the app server's call). */
  change(session: S, topics: readonly string[], subscribe: boolean): void {
    const app = this.apps.get(session.appId);
    const indexed = app?.all.has(session) === true;
    for (const t of topics) {
      if (subscribe) {
        if (session.topics?.has(t)) continue;
        (session.topics ??= new Set()).add(t);
        if (indexed) this.link(app!, t, session);
      } else if (session.topics?.delete(t)) {
        if (indexed) this.unlink(app!, t, session);
      }
    }
    if (session.topics?.size === 0) session.topics = null;
  }

  /**
   * Sessions of the app that match the filter. Each is yielded once: a condition over
   * several topics walks the union of their subscribers, deduplicated.
   */
  matching(appId: string, filter: AudienceFilter): Iterable<S> {
    const app = this.apps.get(appId);
    if (!app) return [];
    const test = filter.exact ? null : (s: S) => filter.matches(s.topics);
    return union(filter.everyDevice ? [app.all] : topicSets(app, filter.topics), test);
  }

  /**
   * Sessions of the app that match at least one of the filters, each once (a wave of
   * broadcasts: gateway/fanout-waves.ts). With one filter, exactly matching(); with
   * several, the caller tests each session against each filter.
   */
  matchingAny(appId: string, filters: readonly AudienceFilter[]): Iterable<S> {
    if (filters.length === 1) return this.matching(appId, filters[0]!);
    const app = this.apps.get(appId);
    if (!app) return [];
    if (filters.some((f) => f.everyDevice)) return app.all;
    return union(topicSets(app, new Set(filters.flatMap((f) => f.topics))), null);
  }

  private link(app: AppSessions<S>, topic: string, session: S): void {
    let set = app.byTopic.get(topic);
    if (!set) {
      set = new Set();
      app.byTopic.set(topic, set);
    }
    set.add(session);
  }

  private unlink(app: AppSessions<S>, topic: string, session: S): void {
    const set = app.byTopic.get(topic);
    if (!set) return;
    set.delete(session);
    if (set.size === 0) app.byTopic.delete(topic);
  }
}

function topicSets<S>(app: AppSessions<S>, topics: Iterable<string>): Array<Set<S>> {
  const sets: Array<Set<S>> = [];
  for (const t of topics) {
    const set = app.byTopic.get(t);
    if (set) sets.push(set);
  }
  return sets;
}

/** Each session of the sets once, those `test` accepts (all without one). */
function* union<S>(sets: ReadonlyArray<Set<S>>, test: ((s: S) => boolean) | null): Generator<S> {
  if (sets.length === 1) {
    if (test === null) yield* sets[0]!;
    else for (const s of sets[0]!) if (test(s)) yield s;
    return;
  }
  const seen = new Set<S>();
  for (const set of sets) {
    for (const s of set) {
      if (seen.has(s)) continue;
      seen.add(s);
      if (test === null || test(s)) yield s;
    }
  }
}
