/** Default number of message ids remembered for deduplication. */
export const DEFAULT_DEDUP_CAPACITY = 2_000;

/**
 * Recently seen message ids (docs/protocol.md, "Delivery semantics": at-least-once, the SDK
 * deduplicates by `id`). Bounded: once full, the id seen longest ago is forgotten first.
 * A JS Set iterates in insertion order, so it is both the lookup and the eviction queue.
 *
 * An id evicted here and redelivered later is shown to the app again, so the capacity must
 * exceed what the gateway can redeliver (its per-device inbox bound).
 *
 * The Set is created by the first id: most devices of a benchmark process (thousands per
 * process) never receive one, and an empty Set still costs its hash table.
 */
export class SeenMessageIds {
  private ids: Set<string> | null = null;

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
    return this.ids === null ? 0 : this.ids.size;
  }

  has(id: string): boolean {
    return this.ids !== null && this.ids.has(id);
  }

  /**
   * Records `id`. Returns false if it was already there; its position is then unchanged,
   * so eviction follows first sight, not last redelivery.
   */
  add(id: string): boolean {
    const ids = (this.ids ??= new Set<string>());
    if (ids.has(id)) return false;
    ids.add(id);
    if (ids.size > this.capacity) {
      const oldest = ids.values().next();
      if (oldest.done !== true) ids.delete(oldest.value);
    }
    return true;
  }

  clear(): void {
    this.ids = null;
  }

  /** Oldest first: the order `from` expects. */
  toArray(): string[] {
    return this.ids === null ? [] : [...this.ids];
  }
}
