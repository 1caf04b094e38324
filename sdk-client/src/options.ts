import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { WireCodec } from '../../src/protocol/index.js';
import { defaultBackoff } from './connection-loop/backoff.js';
import { FileStore, type DeviceStore } from './credential-store.js';
import { DEFAULT_DEDUP_CAPACITY } from './dedup.js';
import { PetrelError } from './errors.js';
import { SDK_VERSION } from './version.js';

export interface PetrelClientOptions {
  /** Gateway host name or address. */
  host: string;
  /** Gateway port (default 5223). */
  port?: number;
  /** true for TLS with default options, or tls.connect options (ca, cert, servername...). */
  tls?: ConnectionOptions | boolean;
  appId: string;
  /** The app's client key, sent only in REGISTER. */
  clientKey: string;
  /** Package / bundle name, sent in REGISTER. */
  pkg?: string;
  /** Where device state lives. Default: FileStore at `statePath`. */
  store?: DeviceStore;
  /** File for the default FileStore (default `.petrel/device-<appId>.json` under the cwd). */
  statePath?: string;
  /** Heartbeat to request in HELLO, seconds; the gateway decides. */
  heartbeatSec?: number;
  backoff?: {
    /** First backoff ceiling, ms (default 1,000). */
    baseMs?: number;
    /** Largest backoff ceiling, ms (default 300,000). */
    capMs?: number;
    /** Authenticated this long, a connection resets the backoff when it ends (default 30,000). */
    resetAfterMs?: number;
  };
  /** ACKs are batched for this long, ms (default 50). */
  ackDelayMs?: number;
  /** ...or until this many ids are queued (default 64). */
  ackMaxBatch?: number;
  /** Message ids remembered for deduplication (default 2,000). */
  dedupCapacity?: number;
  /** Limit from starting a connection to WELCOME, ms (default 15,000). */
  connectTimeoutMs?: number;
  /** Added to 1.5 x heartbeat before a silent link counts as dead, ms (default 10,000). */
  deadLinkGraceMs?: number;
  /** Limit for subscribe/unsubscribe, counted from the call, ms (default 30,000). */
  requestTimeoutMs?: number;
  /** How long close() waits for the gateway to close after BYE, ms (default 2,000). */
  closeTimeoutMs?: number;
  /** Sent in HELLO `sdk` (default `petrel-node/<version>`). */
  sdkVersion?: string;
  /** Source address for the TCP connection (load tests spread clients over local IPs). */
  localAddress?: string;
  /** Codec to use; pass one shared instance when running thousands of clients per process. */
  codec?: WireCodec;
}

/** Options after validation and defaults; frozen and shared by the client's parts. */
export interface ClientConfig {
  readonly host: string;
  readonly port: number;
  readonly tls: ConnectionOptions | null;
  readonly appId: string;
  readonly clientKey: string;
  readonly pkg: string | undefined;
  readonly store: DeviceStore;
  readonly heartbeatSec: number | undefined;
  readonly backoff: { readonly baseMs: number; readonly capMs: number; readonly resetAfterMs: number };
  readonly ackDelayMs: number;
  readonly ackMaxBatch: number;
  readonly dedupCapacity: number;
  readonly connectTimeoutMs: number;
  readonly deadLinkGraceMs: number;
  readonly requestTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly sdkVersion: string;
  readonly localAddress: string | undefined;
  readonly codec: WireCodec;
}

export function resolveOptions(options: PetrelClientOptions): ClientConfig {
  const appId = text(options.appId, 'appId', 128);
  const backoff = options.backoff ?? {};
  const config: ClientConfig = {
    host: text(options.host, 'host', 255),
    port: integer(options.port ?? 5223, 'port', 1, 65_535),
    tls: options.tls === true ? {} : options.tls === undefined || options.tls === false ? null : options.tls,
    appId,
    clientKey: text(options.clientKey, 'clientKey', 256),
    pkg: options.pkg === undefined ? undefined : text(options.pkg, 'pkg', 256),
    store: options.store ?? new FileStore(options.statePath ?? join(process.cwd(), '.petrel', `device-${safeFileName(appId)}.json`)),
    heartbeatSec: options.heartbeatSec === undefined ? undefined : integer(options.heartbeatSec, 'heartbeatSec', 1, 86_400),
    backoff: Object.freeze({
      // baseMs >= 1: a zero base would never grow and full jitter would always be 0.
      baseMs: integer(backoff.baseMs ?? defaultBackoff.baseMs, 'backoff.baseMs', 1),
      capMs: integer(backoff.capMs ?? defaultBackoff.capMs, 'backoff.capMs', 1),
      resetAfterMs: integer(backoff.resetAfterMs ?? 30_000, 'backoff.resetAfterMs', 0),
    }),
    ackDelayMs: integer(options.ackDelayMs ?? 50, 'ackDelayMs', 0),
    // <= 256: 256 ids of up to 128 chars stay well inside one 64 KiB frame.
    ackMaxBatch: integer(options.ackMaxBatch ?? 64, 'ackMaxBatch', 1, 256),
    dedupCapacity: integer(options.dedupCapacity ?? DEFAULT_DEDUP_CAPACITY, 'dedupCapacity', 1),
    connectTimeoutMs: integer(options.connectTimeoutMs ?? 15_000, 'connectTimeoutMs', 1),
    deadLinkGraceMs: integer(options.deadLinkGraceMs ?? 10_000, 'deadLinkGraceMs', 0),
    requestTimeoutMs: integer(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs', 1),
    closeTimeoutMs: integer(options.closeTimeoutMs ?? 2_000, 'closeTimeoutMs', 0),
    sdkVersion: text(options.sdkVersion ?? `petrel-node/${SDK_VERSION}`, 'sdkVersion', 64),
    localAddress: options.localAddress === undefined ? undefined : text(options.localAddress, 'localAddress', 64),
    codec: options.codec ?? new WireCodec(),
  };
  if (typeof config.store.load !== 'function' || typeof config.store.save !== 'function') {
    throw new PetrelError('invalid_options', 'store must implement load() and save()');
  }
  return Object.freeze(config);
}

function text(value: unknown, name: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new PetrelError('invalid_options', `${name} must be a string of 1..${maxLength} characters`);
  }
  return value;
}

function integer(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new PetrelError('invalid_options', `${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

/** appIds are URL-safe in practice, but a path must never be steered by one. */
function safeFileName(appId: string): string {
  return appId.replace(/[^A-Za-z0-9._-]/g, '_');
}
