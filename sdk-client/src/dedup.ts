/** Default number of message ids remembered for deduplication. */
export const DEFAULT_DEDUP_CAPACITY = 2_000;

/**
 * Recently seen message ids (docs/protocol.md, "Delivery semantics": at-least-once, the SDK
 * deduplicates by `id`). Bounded: once full, the id seen longest ago is forgotten first.
 * A JS Set iterates in insertion order, so it is both the lookup and the eviction queue.
 *
 * An id evicted here and redelivered later is shown to the app again, so the capacity must
 * exceed what the gateway can redeliver (its per-device inbox bound).
 */
export class SeenMessageIds {
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number = DEFAULT_DEDUP_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('dedup capacity must be a positive integer');
  }

  /** Restores a persisted list (oldest first), keeping only the newest `capacity` ids. */
  static from(ids: readonly string[], capacity: number = DEFAULT_DEDUP_CAPACITY): SeenMessageIds {
    const seen = new SeenMessageIds(capacity);
    for (const id of ids.slice(-capacity)) seen.add(id);
    return seen;
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Records `id`. Returns false if it was already there; its position is then unchanged,
   * so eviction follows first sight, not last redelivery.
   */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }

  clear(): void {
    this.ids.clear();
  }

  /** Oldest first: the order `from` expects. */
  toArray(): string[] {
    return [...this.ids];
  }
}
