/**
 * Short-lived in-process cache in front of a Redis read. During a reconnect storm
 * thousands of HELLOs per second ask for the same few apps, and every API request
 * authenticates the same few server secrets; a few seconds of staleness only delays the
 * effect of disabling an app or revoking a secret by that much.
 */
export class LoadingCache<T> {
  private readonly entries = new Map<string, { value: T | null; expiresAt: number; pending?: Promise<T | null> }>();

  constructor(
    private readonly load: (key: string) => Promise<T | null>,
    private readonly ttlMs = 5000,
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string): Promise<T | null> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.pending ?? hit.value;
    // Coalesce concurrent misses into one Redis read.
    const pending = this.load(key);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value: null, expiresAt: now + this.ttlMs, pending });
    try {
      const value = await pending;
      this.entries.set(key, { value, expiresAt: Date.now() + this.ttlMs });
      return value;
    } catch (err) {
      this.entries.delete(key);
      throw err;
    }
  }
}
