import type { PublishOutcome } from './fanout-waves.js';

/**
 * Publishes this gateway has fanned out lately (or is fanning out), and the sessions each
 * reached. A publish the dispatcher gave up waiting for (the gateway was busy writing
 * earlier broadcasts) is retried with the same (message, buckets): fanning it out again
 * would write the PUSH a second time to every device that had ACKed it meanwhile. A repeat
 * gets the first one's answer instead, when it is ready. Devices that connected since are
 * caught up from the log on their HELLO, so nothing is missed by not fanning out again.
 *
 * Bounded by count; the oldest go first (a Map iterates in insertion order).
 */
export class RecentPublishes {
  private readonly reached = new Map<string, Promise<PublishOutcome>>();

  constructor(private readonly capacity = 4096) {}

  /** The fan-out of these buckets, if one was started here lately. */
  get(messageId: string, fromBucket: number, toBucket: number): Promise<PublishOutcome> | undefined {
    return this.reached.get(keyOf(messageId, fromBucket, toBucket));
  }

  /** Records a fan-out as it starts; one that fails is forgotten, so a retry runs it again. */
  remember(messageId: string, fromBucket: number, toBucket: number, fanOut: Promise<PublishOutcome>): void {
    const key = keyOf(messageId, fromBucket, toBucket);
    this.reached.set(key, fanOut);
    fanOut.catch(() => {
      if (this.reached.get(key) === fanOut) this.reached.delete(key);
    });
    if (this.reached.size > this.capacity) {
      const oldest = this.reached.keys().next();
      if (oldest.done !== true) this.reached.delete(oldest.value);
    }
  }
}

function keyOf(messageId: string, fromBucket: number, toBucket: number): string {
  return `${messageId} ${fromBucket} ${toBucket}`;
}
