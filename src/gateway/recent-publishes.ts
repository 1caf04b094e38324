/**
 * Publishes this gateway has fanned out lately, and the sessions each reached. A publish
 * the dispatcher gave up waiting for (the gateway was busy writing earlier broadcasts) is
 * retried with the same (message, buckets): fanning it out again would write the PUSH a
 * second time to every device that had ACKed it meanwhile. A repeat answers what the
 * first one did instead. Devices that connected since are caught up from the log on their
 * HELLO, so nothing is missed by not fanning out again.
 *
 * Bounded by count; the oldest go first (a Map iterates in insertion order).
 */
export class RecentPublishes {
  private readonly reached = new Map<string, number>();

  constructor(private readonly capacity = 4096) {}

  /** Sessions a publish of these buckets reached, if it was done here lately. */
  get(messageId: string, fromBucket: number, toBucket: number): number | undefined {
    return this.reached.get(keyOf(messageId, fromBucket, toBucket));
  }

  remember(messageId: string, fromBucket: number, toBucket: number, sessions: number): void {
    this.reached.set(keyOf(messageId, fromBucket, toBucket), sessions);
    if (this.reached.size > this.capacity) {
      const oldest = this.reached.keys().next();
      if (oldest.done !== true) this.reached.delete(oldest.value);
    }
  }
}

function keyOf(messageId: string, fromBucket: number, toBucket: number): string {
  return `${messageId} ${fromBucket} ${toBucket}`;
}
