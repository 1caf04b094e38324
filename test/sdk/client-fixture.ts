import { MemoryStore, PetrelClient, type ClientEvents, type DeviceState, type PetrelClientOptions } from '../../sdk-client/src/index.js';
import { afterEach, beforeEach } from 'node:test';
import { FakeGateway } from './fake-gateway.js';

/** A client with test-sized timings against `gateway`; closed by closeAll(). */
export function makeClient(gateway: FakeGateway, options: Partial<PetrelClientOptions> = {}): PetrelClient {
  const client = new PetrelClient({
    host: '127.0.0.1',
    port: options.port ?? gateway.port,
    appId: 'app-test',
    clientKey: 'ck-test',
    pkg: 'com.example.test',
    store: new MemoryStore(),
    backoff: { baseMs: 10, capMs: 40, resetAfterMs: 60_000 },
    ackDelayMs: 5,
    connectTimeoutMs: 2_000,
    requestTimeoutMs: 2_000,
    closeTimeoutMs: 200,
    ...options,
  });
  live.add(client);
  return client;
}

const live = new Set<PetrelClient>();

export async function closeAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.close()));
  live.clear();
}

/** Next payload of `event`, failing the test instead of hanging if it never comes. */
export function next<K extends keyof ClientEvents>(client: PetrelClient, event: K, timeoutMs = 3_000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${String(event)}' within ${timeoutMs} ms`)), timeoutMs);
    client.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

/** Collects every payload of `event`. */
export function collect<K extends keyof ClientEvents>(client: PetrelClient, event: K): ClientEvents[K][] {
  const out: ClientEvents[K][] = [];
  client.on(event, (payload) => out.push(payload));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A store whose saves take a while and which remembers what is durable, so a test can
 * check that the client ACKs only what a COMPLETED save recorded as seen.
 */
export class SlowStore extends MemoryStore {
  durable: DeviceState | null = null;
  saves = 0;
  clears = 0;

  constructor(
    private readonly delayMs: number,
    initial: DeviceState | null = null,
  ) {
    super(initial);
    this.durable = initial;
  }

  override async save(state: DeviceState): Promise<void> {
    this.saves++;
    await sleep(this.delayMs);
    await super.save(state);
    this.durable = structuredClone(state);
  }

  override async clear(): Promise<void> {
    this.clears++;
    await super.clear();
    this.durable = null;
  }
}

/**
 * Starts a FakeGateway before each test of the enclosing describe and, after each, closes
 * every client made by makeClient and then the gateway. Tests use `fake.gw`, and may
 * replace it (a test that stops the gateway starts another for the teardown).
 */
export function useFakeGateway(): { gw: FakeGateway } {
  let current: FakeGateway | null = null;
  beforeEach(async () => {
    current = await FakeGateway.start();
  });
  afterEach(async () => {
    await closeAll();
    await current?.close();
    current = null;
  });
  return {
    get gw(): FakeGateway {
      if (!current) throw new Error('the fake gateway exists only while a test runs');
      return current;
    },
    set gw(gateway: FakeGateway) {
      current = gateway;
    },
  };
}
