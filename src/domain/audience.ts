import type { BroadcastTarget } from './message.js';
import { PetrelError } from './errors.js';
import { ConditionError, conditionTopics, formatCondition, matchesCondition, needsEveryDevice, parseCondition } from './topic-condition.js';
import { validTopic } from './topic.js';

/**
 * Who a broadcast reaches, as gateways and the catch-up path both decide it: a filter on a
 * session's topics, and an audience bucket per device that paced campaigns release a slice
 * at a time (docs/architecture.md, "Broadcasts").
 */

/**
 * Devices are spread over this many buckets by a hash of their id. A paced campaign
 * releases buckets over time on every gateway at once, so pacing needs no per-device
 * state anywhere: a gateway holding 19,000 sessions sends ~19 per bucket.
 */
export const AUDIENCE_BUCKETS = 1024;

/**
 * The name of an app's broadcast log in PUSH `log` and HELLO `cur`. One log per app for
 * topics, conditions and whole-app sends alike: one seq, one cursor per device, and a
 * condition over several topics is still appended once.
 */
export const APP_LOG = 'app';

/** FNV-1a over the id's characters: stable across processes and releases (never change it). */
export function bucketOf(deviceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % AUDIENCE_BUCKETS;
}

/**
 * A broadcast target checked and in canonical form (a condition is stored as its
 * normalised text); a bad topic or condition fails with topic_invalid / condition_invalid.
 */
export function canonicalBroadcast(target: BroadcastTarget): BroadcastTarget {
  if (target.kind === 'all') return target;
  if (target.kind === 'topic') return { kind: 'topic', topic: validTopic(target.topic) };
  try {
    return { kind: 'condition', condition: formatCondition(parseCondition(target.condition)) };
  } catch (err) {
    if (err instanceof ConditionError) throw new PetrelError('condition_invalid', err.message, { cause: err, details: { position: err.position } });
    throw err;
  }
}

/** The filter text of a broadcast target: '' for the whole app, else a topic condition. */
export function filterOf(target: BroadcastTarget): string {
  if (target.kind === 'all') return '';
  if (target.kind === 'topic') return formatCondition({ kind: 'topic', topic: target.topic });
  return target.condition;
}

/** A compiled filter: parse once per broadcast, test per session. */
export interface AudienceFilter {
  /** Topics a matching session may be found through; meaningless when `everyDevice`. */
  readonly topics: readonly string[];
  /** Every session of the app must be tested (whole app, or a condition true without any of its topics). */
  readonly everyDevice: boolean;
  /**
   * Every session found through `topics` (or, with `everyDevice`, every session) matches
   * without being tested: the whole app, or one plain topic. A fan-out then skips the
   * test per session.
   */
  readonly exact: boolean;
  matches(topics: ReadonlySet<string> | null): boolean;
}

const EVERYONE: AudienceFilter = { topics: [], everyDevice: true, exact: true, matches: () => true };

export function compileFilter(text: string): AudienceFilter {
  if (text === '') return EVERYONE;
  const condition = parseCondition(text);
  return {
    topics: conditionTopics(condition),
    everyDevice: needsEveryDevice(condition),
    exact: condition.kind === 'topic',
    matches: (topics) => matchesCondition(condition, (t) => topics !== null && topics.has(t)),
  };
}
