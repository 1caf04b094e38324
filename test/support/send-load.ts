// Pieces for tests that run the send path as real processes and count what devices got:
// the PETREL_* environment of a test deployment, SDK devices that tally every message the
// app is handed, and an API client that keeps many requests in flight.
//
//   const group = new ProcessGroup(tierEnv({ redisUrl, prefix, deviceKey }));
//   const [gateway, api] = await Promise.all([group.start('gateway'), group.start('api'), group.start('dispatcher')]);
//   const devices = await connectDevices(100, gateway.port('tcp'), { appId, clientKey });
//   const sender = new ApiSender(api.port('http'), serverSecret);
//   const r = await sender.send(devices[0]!.deviceId, { n: 1 });   // r.status 202, r.id
//   accepted.add(r.id!, devices[0]!);                               // accepted: an AcceptedLog
//   accepted.tally(devices);                                        // { missing, duplicates, ... }
//   // finally: close the devices, await group.killAll()

import { createServer, type AddressInfo } from 'node:net';
import { MemoryStore, PetrelClient, type PetrelClientOptions, type PushMessage } from '../../sdk-client/src/index.js';
import { startPetrelProcess, type PetrelProcess } from './petrel-process.js';

/** What a test deployment shares: one Redis, one key prefix, one device key on every gateway. */
export interface Deployment {
  redisUrl: string;
  prefix: string;
  /** base64, >= 32 bytes: PETREL_DEVICE_KEY, identical on every gateway. */
  deviceKey: string;
}

/**
 * Environment of one `petrel <tier>` process of a test deployment: loopback, ephemeral
 * ports, and the fault-recovery timings short enough for a test (a stalled send job is
 * taken over within 2-4 s, a dead process leaves the registry after 3 s, an unacknowledged
 * PUSH is re-sent after 1 s).
 */
export function tierEnv(d: Deployment, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PETREL_REDIS_URL: d.redisUrl,
    PETREL_REDIS_KEY_PREFIX: d.prefix,
    PETREL_DEVICE_KEY: d.deviceKey,
    PETREL_GATEWAY_HOST: '127.0.0.1',
    PETREL_GATEWAY_PORT: '0',
    PETREL_HTTP_HOST: '127.0.0.1',
    PETREL_HTTP_PORT: '0',
    PETREL_STALLED_INTERVAL_MS: '2000',
    PETREL_REGISTRY_TTL_MS: '3000',
    PETREL_ACK_TIMEOUT_MS: '1000',
    ...extra,
  };
}

/** A free loopback port (for listeners where 0 means "off", such as PETREL_OPS_PORT). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The tier processes a test started; `killAll()` in a `finally` leaves none behind. */
export class ProcessGroup {
  private readonly starting: Array<Promise<PetrelProcess>> = [];

  constructor(private readonly env: Record<string, string>) {}

  /** `petrel <mode>` with the group's environment plus `extra`; resolves after its start banner. */
  start(mode: 'gateway' | 'dispatcher' | 'api' | 'all', extra: Record<string, string> = {}): Promise<PetrelProcess> {
    const p = startPetrelProcess(mode, { ...this.env, ...extra }, 60_000);
    this.starting.push(p);
    return p;
  }

  /** kill -9 of every process started, including those still starting. */
  async killAll(): Promise<void> {
    const settled = await Promise.allSettled(this.starting);
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? kill9(s.value) : undefined)));
  }
}

/** kill -9 and wait for the exit. */
export async function kill9(p: PetrelProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.exited;
}

/** The last lines a process printed (its warnings), for assertion messages. */
export function tail(p: PetrelProcess, lines = 15): string {
  return p.output().trimEnd().split('\n').slice(-lines).join('\n');
}

export interface AppCredentials {
  appId: string;
  clientKey: string;
}

/**
 * One device as its app sees it: an SDK client (MemoryStore) and the tally of every
 * message the app was handed ('message' and 'notification' events), kept across the
 * clients the device uses. The SDK deduplicates by id before emitting, so a count above 1
 * is a duplicate the app saw.
 */
export class TestDevice {
  readonly store = new MemoryStore();
  /** Message id → times the app was handed it. */
  readonly shown = new Map<string, number>();
  /** Message id → when the app was first handed it (performance.now()) and its data. */
  readonly firstShown = new Map<string, { at: number; data: unknown }>();
  readonly errors: string[] = [];
  client: PetrelClient | null = null;
  deviceId = '';

  constructor(
    private readonly app: AppCredentials,
    private readonly options: Partial<PetrelClientOptions> = {},
  ) {}

  /**
   * Starts a client on the gateway at `port` and waits for WELCOME. The first call
   * registers the device; later calls authenticate with the credentials in the store.
   */
  async connect(port: number, options: Partial<PetrelClientOptions> = {}, timeoutMs = 20_000): Promise<void> {
    const client = new PetrelClient({
      host: '127.0.0.1',
      port,
      appId: this.app.appId,
      clientKey: this.app.clientKey,
      store: this.store,
      backoff: { baseMs: 100, capMs: 1000 },
      ...this.options,
      ...options,
    });
    const count = (m: PushMessage): void => {
      const n = (this.shown.get(m.id) ?? 0) + 1;
      this.shown.set(m.id, n);
      if (n === 1) this.firstShown.set(m.id, { at: performance.now(), data: m.data });
    };
    client.on('message', count);
    client.on('notification', count);
    client.on('error', (err) => this.errors.push(`${err.code}: ${err.message}`));
    this.client = client;
    const connected = client.waitFor('connected');
    await client.start();
    const { deviceId } = await within(connected, timeoutMs, `device ${this.deviceId || '(new)'} to connect on port ${port}`);
    this.deviceId = deviceId;
  }

  /**
   * What a device does when its gateway is gone and a load balancer sends it elsewhere:
   * the SDK takes one host:port, so the old client is closed (that persists its seen ids
   * in the store) and a new client with the same store connects to the other gateway.
   */
  async moveTo(port: number, options: Partial<PetrelClientOptions> = {}): Promise<void> {
    await this.client?.close();
    await this.connect(port, options);
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}

/** Connects `n` new devices, `parallel` at a time; on failure closes them all (no client keeps reconnecting). */
export async function connectDevices(n: number, port: number, app: AppCredentials, options: Partial<PetrelClientOptions> = {}, parallel = 25): Promise<TestDevice[]> {
  const devices = Array.from({ length: n }, () => new TestDevice(app, options));
  try {
    await forEachConcurrently(devices, parallel, (d) => d.connect(port));
  } catch (err) {
    await Promise.all(devices.map((d) => d.close()));
    throw err;
  }
  return devices;
}

export interface Tally {
  /** Accepted messages the app of their device never saw. */
  missing: number;
  /** Extra times the app saw an accepted message (0 when each was seen exactly once). */
  duplicates: number;
  /** Messages the apps saw that were never accepted (e.g. stored, but answered 503). */
  unaccepted: number;
  delivered: number;
}

/** Messages the API accepted (202): to which device, and when. */
export class AcceptedLog {
  /** Message id → its device. */
  readonly devices = new Map<string, TestDevice>();
  /** Message id → when the 202 came (performance.now()). */
  readonly at = new Map<string, number>();

  add(id: string, device: TestDevice): void {
    this.devices.set(id, device);
    this.at.set(id, performance.now());
  }

  get size(): number {
    return this.devices.size;
  }

  /** Compares what the apps saw with what was accepted. */
  tally(devices: readonly TestDevice[]): Tally {
    let missing = 0;
    let duplicates = 0;
    let delivered = 0;
    for (const [id, device] of this.devices) {
      const n = device.shown.get(id) ?? 0;
      if (n === 0) missing++;
      else delivered++;
      if (n > 1) duplicates += n - 1;
    }
    let unaccepted = 0;
    for (const d of devices) {
      for (const [id, n] of d.shown) {
        if (this.devices.get(id) !== d) unaccepted += n;
      }
    }
    return { missing, duplicates, unaccepted, delivered };
  }

  /** Accepted messages not yet shown at `t`, of those accepted before `t`. */
  unshownAt(t: number): number {
    let n = 0;
    for (const [id, device] of this.devices) {
      const shown = device.firstShown.get(id);
      if (this.at.get(id)! < t && (shown === undefined || shown.at > t)) n++;
    }
    return n;
  }

  /**
   * How long after `t` the last message accepted before `t` was first shown (0 when all
   * had been by then): how long a fault at `t` held up what was already promised.
   */
  caughtUpAfter(t: number): number {
    let last = t;
    for (const [id, device] of this.devices) {
      if (this.at.get(id)! >= t) continue;
      const shown = device.firstShown.get(id);
      last = Math.max(last, shown === undefined ? Infinity : shown.at);
    }
    return last - t;
  }

  /** The longest 202 → first shown, over messages accepted in [from, to). */
  worstLatency(from = 0, to = Infinity): number {
    let worst = 0;
    for (const [id, device] of this.devices) {
      const accepted = this.at.get(id)!;
      if (accepted < from || accepted >= to) continue;
      const shown = device.firstShown.get(id);
      worst = Math.max(worst, shown === undefined ? Infinity : shown.at - accepted);
    }
    return worst;
  }
}

export interface SendResult {
  /** HTTP status; 0 when no response came (connection refused, timeout). */
  status: number;
  /** The message id of a 202. */
  id?: string;
  /** `error.code` of an error response. */
  code?: string;
  /** Request start to body read. */
  ms: number;
  error?: string;
}

/** POST /v1/messages, to one device at a time (or to the whole app), as an app server would. */
export class ApiSender {
  constructor(
    readonly port: number,
    private readonly serverSecret: string,
    private readonly timeoutMs = 15_000,
  ) {}

  /** With `idempotencyKey`, a retry of the same send (same key, same data) is answered, not sent again. */
  send(deviceId: string, data: unknown, idempotencyKey?: string): Promise<SendResult> {
    return this.post({ devices: [deviceId] }, data, idempotencyKey);
  }

  /** To every device of the app (`to: {all: true}`): one entry in the app's log. */
  broadcast(data: unknown): Promise<SendResult> {
    return this.post({ all: true }, data);
  }

  private async post(to: Record<string, unknown>, data: unknown, idempotencyKey?: string): Promise<SendResult> {
    const started = performance.now();
    const headers: Record<string, string> = { authorization: `Bearer ${this.serverSecret}`, 'content-type': 'application/json' };
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/v1/messages`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ to, data }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const body = (await res.json()) as { id?: string; error?: { code?: string } };
      const result: SendResult = { status: res.status, ms: performance.now() - started };
      if (body.id !== undefined) result.id = body.id;
      if (body.error?.code !== undefined) result.code = body.error.code;
      return result;
    } catch (err) {
      return { status: 0, ms: performance.now() - started, error: (err as Error).message };
    }
  }

  /** GET /v1/messages/:id (the trace). */
  async trace(id: string): Promise<{ status: number; body: { state?: string; counts?: Record<string, number> } }> {
    const res = await fetch(`http://127.0.0.1:${this.port}/v1/messages/${id}`, {
      headers: { authorization: `Bearer ${this.serverSecret}` },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return { status: res.status, body: (await res.json()) as { state?: string; counts?: Record<string, number> } };
  }
}

/** Runs `work` on every item with at most `concurrency` running at once; rejects on the first failure. */
export async function forEachConcurrently<T>(items: Iterable<T>, concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
