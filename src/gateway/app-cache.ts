import type { App } from '../domain/app.js';
import type { AppStore } from '../store/app-store.js';

/**
 * Short-lived in-process cache of app records. Every REGISTER and HELLO needs the app;
 * during a reconnect storm thousands per second ask for the same few apps. A few seconds
 * of staleness only delays the effect of disabling an app, which `kick` (dispatch tier)
 * enforces on live sessions anyway.
 */
export class AppCache {
  private readonly entries = new Map<string, { app: App | null; expiresAt: number; pending?: Promise<App | null> }>();

  constructor(
    private readonly store: AppStore,
    private readonly ttlMs = 5000,
    private readonly maxEntries = 10_000,
  ) {}

  async get(appId: string): Promise<App | null> {
    const now = Date.now();
    const hit = this.entries.get(appId);
    if (hit && hit.expiresAt > now) return hit.pending ?? hit.app;
    // Coalesce concurrent misses into one Redis read.
    const pending = this.store.get(appId);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(appId, { app: null, expiresAt: now + this.ttlMs, pending });
    try {
      const app = await pending;
      this.entries.set(appId, { app, expiresAt: Date.now() + this.ttlMs });
      return app;
    } catch (err) {
      this.entries.delete(appId);
      throw err;
    }
  }
}
