import type { DeviceState, DeviceStore } from './credential-store.js';
import { SeenMessageIds } from './dedup.js';
import { PetrelError, isPetrelError } from './errors.js';

export interface DeviceCredentials {
  readonly dev: string;
  readonly secret: string;
}

/**
 * The device's memory: credentials, seen message ids and log cursors, and their
 * persistence through a DeviceStore.
 *
 * Persistence is versioned rather than written per push: every change bumps `version`,
 * and flush() resolves once a save covering that version has completed. Saves never
 * overlap, and callers that arrive while one runs share the next, so a burst of pushes
 * costs one or two writes. The ACK batcher calls flush() before every ACK; that is how
 * "never ACK what is not yet durably recorded as seen" holds.
 */
export class DeliveryLedger {
  private creds: DeviceCredentials | null = null;
  private seen: SeenMessageIds;
  /** Log name -> highest seq; null until the first cursor (no hash table for idle devices). */
  private cursors: Map<string, number> | null = null;
  private version = 0;
  private savedVersion = 0;
  private saving: Promise<void> | null = null;

  constructor(
    private readonly store: DeviceStore,
    private readonly appId: string,
    private readonly dedupCapacity: number,
  ) {
    this.seen = new SeenMessageIds(dedupCapacity);
  }

  get credentials(): DeviceCredentials | null {
    return this.creds;
  }

  /** Loads saved state. State saved for another appId is ignored: this app registers anew. */
  async load(): Promise<void> {
    let state: DeviceState | null;
    try {
      state = await this.store.load();
    } catch (err) {
      throw isPetrelError(err) ? err : new PetrelError('store_failed', 'DeviceStore.load failed', { cause: err });
    }
    if (state === null || state.appId !== this.appId) return;
    this.creds = { dev: state.dev, secret: state.secret };
    this.seen = SeenMessageIds.from(state.seen ?? [], this.dedupCapacity);
    this.cursors = null;
    for (const [log, seq] of Object.entries(state.cursors ?? {})) (this.cursors ??= new Map<string, number>()).set(log, seq);
  }

  /**
   * Adopts credentials from REGISTERED and resolves once they are durable. A new device
   * has a new inbox and no subscriptions, so old seen ids and cursors are dropped.
   */
  async adoptCredentials(dev: string, secret: string): Promise<void> {
    this.creds = { dev, secret };
    this.seen.clear();
    this.cursors = null;
    this.version++;
    await this.flush();
  }

  /** Forgets everything (close code 4001: these credentials will never work again). */
  async forgetCredentials(): Promise<void> {
    // Let a save in flight land first, or it could rewrite the old credentials after
    // the clear below.
    await this.saving?.catch(() => undefined);
    this.creds = null;
    this.seen.clear();
    this.cursors = null;
    this.savedVersion = ++this.version;
    try {
      await this.store.clear?.();
    } catch (err) {
      throw isPetrelError(err) ? err : new PetrelError('store_failed', 'DeviceStore.clear failed', { cause: err });
    }
  }

  /**
   * Records a delivered message. Returns false for a duplicate (the app must not see it
   * again). Log cursors keep the highest seq, so a replayed older entry never moves one back.
   */
  recordPush(id: string, log?: string, seq?: number): boolean {
    const fresh = this.seen.add(id);
    // "__proto__" cannot travel back in HELLO `cur` (the codec rejects the key).
    if (log !== undefined && seq !== undefined && log !== '__proto__') {
      const cursors = (this.cursors ??= new Map<string, number>());
      const current = cursors.get(log);
      if (current === undefined || seq > current) {
        cursors.set(log, seq);
        this.version++;
        return fresh;
      }
    }
    if (fresh) this.version++;
    return fresh;
  }

  /**
   * The server says everything of `log` up to `seq` meant for this device was sent (CURSOR):
   * entries it skipped as not matching are not looked at again. Never moves a cursor back.
   */
  advanceCursor(log: string, seq: number): void {
    if (log === '__proto__') return;
    const cursors = (this.cursors ??= new Map<string, number>());
    const current = cursors.get(log);
    if (current !== undefined && current >= seq) return;
    cursors.set(log, seq);
    this.version++;
  }

  /**
   * A broadcast was revoked (REVOKE). Its id joins the seen ids so a copy arriving later is
   * dropped; returns whether the app had already been shown it.
   */
  recordRevoked(id: string): boolean {
    const fresh = this.seen.add(id);
    if (fresh) this.version++;
    return !fresh;
  }

  /** HELLO `cur`: undefined when there is nothing to send, so the field is omitted. */
  cursorMap(): Record<string, number> | undefined {
    if (this.cursors === null || this.cursors.size === 0) return undefined;
    return Object.fromEntries(this.cursors);
  }

  /** Resolves once every change made before the call is durable in the store. */
  async flush(): Promise<void> {
    const target = this.version;
    while (this.savedVersion < target) {
      if (this.saving !== null) {
        // Someone else's save: it may not cover `target` (or may fail); loop and check.
        await this.saving.catch(() => undefined);
        continue;
      }
      await this.startSave();
    }
  }

  private startSave(): Promise<void> {
    // Cleared in the promise chain itself, so whoever awaits it sees `saving` reset.
    const saving: Promise<void> = this.saveNow().finally(() => {
      if (this.saving === saving) this.saving = null;
    });
    this.saving = saving;
    return saving;
  }

  private async saveNow(): Promise<void> {
    const version = this.version;
    if (this.creds === null) {
      // Nothing worth persisting without credentials (pushes need an authenticated session).
      this.savedVersion = Math.max(this.savedVersion, version);
      return;
    }
    const state: DeviceState = {
      appId: this.appId,
      dev: this.creds.dev,
      secret: this.creds.secret,
      cursors: this.cursors === null ? {} : Object.fromEntries(this.cursors),
      seen: this.seen.toArray(),
    };
    try {
      await this.store.save(state);
    } catch (err) {
      throw isPetrelError(err) ? err : new PetrelError('store_failed', 'DeviceStore.save failed', { cause: err });
    }
    this.savedVersion = Math.max(this.savedVersion, version);
  }
}
