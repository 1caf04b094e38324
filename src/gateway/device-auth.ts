import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { App } from '../domain/app.js';
import { deriveDeviceSecret } from '../domain/device-secret.js';
import { PetrelError } from '../domain/errors.js';
import { ID_PATTERN, ownString } from '../domain/ids.js';
import { helloSignatureMatches, MIN_NONCE_LENGTH, type HelloFrame, type RegisterFrame } from '../protocol/index.js';
import { sameCredential } from '../store/app-store.js';
import type { DeviceStore } from '../store/device-store.js';
import { consumeOrRefuse } from '../store/rate-limits.js';
import type { LoadingCache } from '../store/loading-cache.js';

export interface Registration {
  deviceId: string;
  secret: string;
}

/** An authenticated device as its session keeps it. */
export interface AuthenticatedDevice {
  id: string;
  appId: string;
  gen: number;
  /** Number within the app (broadcast ACKs are counted by it). */
  no: number;
  /** Subscribed topics, for the gateway's fan-out index; null when none. */
  topics: Set<string> | null;
  /** Version of that topic set, reported in ONLINE so a change racing this HELLO is caught. */
  topicsVersion: number;
  /** The app's own limit of concurrent sessions, when it has one (App.maxSessions). */
  appMaxSessions: number | undefined;
}

/**
 * REGISTER and HELLO checks (docs/protocol.md, frames 1 and 3). Failures are PetrelErrors
 * whose catalog entry carries the close code; the reason code is what metrics count.
 * Storage failures surface as `storage_unavailable` so the connection can be told to come
 * back later instead of being told its credentials are bad.
 */
export class DeviceAuthenticator {
  constructor(
    private readonly apps: LoadingCache<App>,
    private readonly devices: DeviceStore,
    private readonly deviceKey: Buffer,
    private readonly helloWindowMs: number,
    /** REGISTERs per source address (rate-limiter-flexible on Redis, shared by all gateways); null: no limit. */
    private readonly registrations: RateLimiterAbstract | null = null,
  ) {}

  /** `address`: the connection's source address, which the registration limit counts by. */
  async register(frame: RegisterFrame, address: string): Promise<Registration> {
    if (this.registrations) {
      await consumeOrRefuse(this.registrations, address || 'unknown', 1, `at most ${this.registrations.points} registrations per minute from one address`);
    }
    const app = await this.activeApp(frame.app);
    if (!sameCredential(app.clientKey, frame.key)) throw new PetrelError('auth_failed', 'wrong app client key');
    const device = await this.storage(this.devices.register(app.id, frame.pkg ?? ''));
    return { deviceId: device.id, secret: deriveDeviceSecret(this.deviceKey, app.id, device.id, device.gen) };
  }

  async hello(frame: HelloFrame, now: number): Promise<AuthenticatedDevice> {
    if (frame.v !== 1) throw new PetrelError('auth_failed', `protocol version ${frame.v} is not supported`);
    if (frame.nonce.length < MIN_NONCE_LENGTH) throw new PetrelError('auth_failed', 'nonce too short');
    if (Math.abs(now - frame.ts) > this.helloWindowMs) throw new PetrelError('hello_stale');
    if (!ID_PATTERN.test(frame.dev)) throw new PetrelError('auth_failed', 'malformed device id');
    const app = await this.activeApp(frame.app);
    // One round trip: the device record, and the nonce claimed (TTL twice the window, so
    // a nonce cannot expire while a HELLO carrying it is still fresh).
    const record = await this.storage(this.devices.helloRecord(frame.dev, frame.nonce, 2 * this.helloWindowMs));
    // Unknown device, another app's device and an invalidated device all look the same
    // to the caller: authentication failed, re-register.
    if (!record || record.appId !== app.id || record.status !== 'active') throw new PetrelError('auth_failed', 'unknown device');
    const secret = deriveDeviceSecret(this.deviceKey, app.id, frame.dev, record.gen);
    if (!helloSignatureMatches(secret, frame.app, frame.dev, frame.ts, frame.nonce, frame.sig)) {
      throw new PetrelError('auth_failed', 'bad signature');
    }
    if (!record.nonceFresh) throw new PetrelError('nonce_replayed');
    const no = record.no ?? await this.storage(this.devices.assignNumber(frame.dev, app.id));
    // What the session keeps for its lifetime: a flat copy of the id (not a slice of the
    // decoded HELLO) and the app id string shared by every session of the app.
    return { id: ownString(frame.dev), appId: app.id, gen: record.gen, no, topics: record.topics.length > 0 ? new Set(record.topics) : null, topicsVersion: record.topicsVersion, appMaxSessions: app.maxSessions };
  }

  /** An unknown and a disabled app get the same answer: 4010. */
  private async activeApp(appId: string): Promise<App> {
    const app = await this.storage(this.apps.get(appId));
    if (!app || app.status !== 'active') throw new PetrelError('app_unknown');
    return app;
  }

  private async storage<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof PetrelError) throw err;
      throw new PetrelError('storage_unavailable', undefined, { cause: err });
    }
  }
}
