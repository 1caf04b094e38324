import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PetrelError } from './errors.js';

/**
 * Everything a device must remember across restarts. Credentials come from REGISTERED;
 * `cursors` and `seen` make delivery exactly-once as far as the app can tell
 * (docs/protocol.md, "Delivery semantics").
 */
export interface DeviceState {
  appId: string;
  /** Device id (regId) issued by REGISTERED. */
  dev: string;
  /** Device secret issued by REGISTERED; signs every HELLO. */
  secret: string;
  /** Log name -> highest `seq` seen, sent back in HELLO `cur`. */
  cursors: Record<string, number>;
  /** Recently seen message ids, oldest first (bounded by dedupCapacity). */
  seen: string[];
}

/**
 * Where a client keeps its DeviceState. `save` must be durable when it resolves: the
 * client ACKs a message only after the save recording it as seen has resolved.
 * The client never runs two calls on one store concurrently.
 */
export interface DeviceStore {
  load(): Promise<DeviceState | null>;
  save(state: DeviceState): Promise<void>;
  /**
   * Forgets the state (after close code 4001). Optional: without it the stale credentials
   * stay until the next REGISTERED overwrites them, and a restart in between just meets
   * 4001 once more and re-registers.
   */
  clear?(): Promise<void>;
}

/** Keeps state in memory: for tests, benchmarks, and apps that persist elsewhere. */
export class MemoryStore implements DeviceStore {
  private state: DeviceState | null;

  constructor(initial: DeviceState | null = null) {
    this.state = initial === null ? null : copyDeviceState(initial);
  }

  async load(): Promise<DeviceState | null> {
    // Copies both ways: the client must not alias the stored object, or "saved" would
    // change without a save.
    return this.state === null ? null : copyDeviceState(this.state);
  }

  async save(state: DeviceState): Promise<void> {
    this.state = copyDeviceState(state);
  }

  async clear(): Promise<void> {
    this.state = null;
  }
}

/**
 * JSON file, written atomically: a temporary file in the same directory is written,
 * fsynced and renamed over the old one, so a crash leaves either the old or the new state,
 * never a torn file. Mode 0600 because the file holds the device secret.
 */
export class FileStore implements DeviceStore {
  constructor(readonly path: string) {}

  async load(): Promise<DeviceState | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new PetrelError('store_failed', `cannot read ${this.path}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new PetrelError('store_corrupt', `${this.path} is not valid JSON`, { cause: err });
    }
    return parseDeviceState(value, this.path);
  }

  async save(state: DeviceState): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const file = await open(tmp, 'w', 0o600);
      try {
        await file.writeFile(JSON.stringify(state));
        // Durable before visible: the rename must not publish a file whose bytes are
        // still only in the page cache.
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new PetrelError('store_failed', `cannot write ${this.path}`, { cause: err });
    }
  }

  async clear(): Promise<void> {
    try {
      await rm(this.path, { force: true });
    } catch (err) {
      throw new PetrelError('store_failed', `cannot remove ${this.path}`, { cause: err });
    }
  }
}

/**
 * Validates state read from outside the process. Credentials are required; cursors and
 * seen ids default to empty so a hand-written or older file still loads.
 */
export function parseDeviceState(value: unknown, where = 'device state'): DeviceState {
  const corrupt = (what: string) => new PetrelError('store_corrupt', `${where}: ${what}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('not an object');
  const v = value as Record<string, unknown>;
  for (const field of ['appId', 'dev', 'secret'] as const) {
    if (typeof v[field] !== 'string' || v[field] === '') throw corrupt(`"${field}" must be a non-empty string`);
  }
  const cursors: Record<string, number> = {};
  if (v['cursors'] !== undefined) {
    if (typeof v['cursors'] !== 'object' || v['cursors'] === null || Array.isArray(v['cursors'])) throw corrupt('"cursors" must be an object');
    for (const [log, seq] of Object.entries(v['cursors'])) {
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw corrupt(`cursor "${log}" must be a non-negative integer`);
      // Assigning "__proto__" would set the prototype, and the wire forbids the key anyway.
      if (log !== '__proto__') cursors[log] = seq;
    }
  }
  let seen: string[] = [];
  if (v['seen'] !== undefined) {
    if (!Array.isArray(v['seen']) || !v['seen'].every((id) => typeof id === 'string')) throw corrupt('"seen" must be an array of strings');
    seen = v['seen'] as string[];
  }
  return { appId: v['appId'] as string, dev: v['dev'] as string, secret: v['secret'] as string, cursors, seen };
}

/**
 * A copy sharing nothing mutable with `state`. DeviceState is strings, one flat map of
 * numbers and one array of strings, so two shallow copies do what structuredClone did at
 * a fraction of the cost (a benchmark process builds ~5,000 MemoryStores, each copying on
 * construction and on load).
 */
function copyDeviceState(state: DeviceState): DeviceState {
  return {
    appId: state.appId,
    dev: state.dev,
    secret: state.secret,
    // Spread defines own properties, so even a "__proto__" key is copied as data. The
    // fallbacks tolerate a hand-built state without cursors/seen, as the client does.
    cursors: { ...state.cursors },
    seen: (state.seen ?? []).slice(),
  };
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}
