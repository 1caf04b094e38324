import { z } from 'zod';

/**
 * Every setting of every tier, with its default. Parsed once at start (config/load.ts),
 * deep-frozen and passed down; nothing reads process.env after that.
 */
/**
 * Where the other tier should dial a Thrift listener, when that differs from where it
 * listens: a listener on 0.0.0.0, NAT or a container port mapping, a proxy in front.
 * Unset: the listener's own host and port are announced in the registry.
 */
const advertised = {
  advertiseHost: z.string().min(1).optional(),
  advertisePort: z.number().int().min(1).max(65535).optional(),
};

export const configSchema = z.object({
  /** Folder for local state in the all-in-one mode (.petrel/ by default). */
  dataDir: z.string().default('.petrel'),
  redis: z.object({
    url: z.string().default('redis://127.0.0.1:6391'),
    /** Prefix of every key we own; lets tests and several deployments share one Redis. */
    keyPrefix: z.string().default('petrel:'),
  }).prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
  auth: z.object({
    /**
     * Server key the device secrets are derived from (base64, >= 32 bytes). Required in
     * production; the all-in-one mode generates one under dataDir on first start.
     */
    deviceKey: z.string().optional(),
    /** Accepted distance between a HELLO's `ts` and server time. */
    helloWindowMs: z.number().int().min(1000).max(3_600_000).default(120_000),
  }).prefault({}),
  admin: z.object({
    /**
     * Bearer token of the admin API (/v1/admin: apps and credentials), at least 24
     * characters. Without it the admin API is off, except in the all-in-one mode, which
     * generates one under dataDir on first start.
     */
    token: z.string().min(24).optional(),
  }).prefault({}),
  codec: z.object({
    maxFrame: z.number().int().min(1024).max(16 * 1024 * 1024).default(65536),
    maxCollectionLength: z.number().int().min(16).default(4096),
    maxDepth: z.number().int().min(4).max(64).default(16),
  }).prefault({}),
  gateway: z.object({
    /** Stable id of this gateway process; generated when empty. */
    id: z.string().default(''),
    host: z.string().default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(5223),
    tls: z.object({ certFile: z.string(), keyFile: z.string() }).nullable().default(null),
    heartbeat: z.object({
      defaultSec: z.number().int().min(5).default(240),
      minSec: z.number().int().min(1).default(30),
      maxSec: z.number().int().min(5).default(900),
      /** Added to 1.5 × hb before a silent connection is dropped (4009). */
      graceSec: z.number().int().min(0).default(10),
    }).prefault({}),
    /**
     * How long a HELLO's Redis lookup may wait to share one round trip with other HELLOs.
     * A few ms is invisible to a device and cuts a connect's CPU cost by a fifth or more.
     */
    helloBatchMs: z.number().int().min(0).max(50).default(2),
    /** How long an app record is cached per gateway (disable takes effect within this). */
    appCacheMs: z.number().int().min(0).default(5000),
    authDeadlineMs: z.number().int().min(100).default(10_000),
    /** Per-connection cap on bytes queued in the socket; beyond it: close 4005. */
    sendBufferBytes: z.number().int().min(4096).default(256 * 1024),
    /** How often liveness and auth deadlines are checked (one timer for all sockets). */
    sweepIntervalMs: z.number().int().min(50).max(10_000).default(1000),
    /** On drain, devices are told to come back after a random delay up to this. */
    drainSpreadMs: z.number().int().min(0).default(30_000),
    /** How long a drain waits for devices to leave before closing the rest. */
    drainTimeoutMs: z.number().int().min(0).default(10_000),
    /** Thrift GatewayService listener (dispatchers call it); advertised in the registry. */
    rpc: z.object({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(0),
      ...advertised,
    }).prefault({}),
    /** ACKs, presence and SUB/UNSUB are sent to a dispatcher at most this often (one Thrift call). */
    reportIntervalMs: z.number().int().min(1).max(1000).default(5),
    /** Reports held while no dispatcher answers; beyond this the oldest ACKs are dropped (re-sent later). */
    reportBacklog: z.number().int().min(100).default(100_000),
    /** Entries per report (ACKed ids, presence, clicks, SUB/UNSUB): keeps each call far below the Thrift frame limit. */
    reportMaxEntries: z.number().int().min(10).max(50_000).default(5_000),
    /** A PUSH not ACKed within this is sent again, with the wait doubling each time. */
    ackTimeoutMs: z.number().int().min(100).default(10_000),
    /** Re-sends per PUSH per session; after them the message waits in the inbox for the next session. */
    maxResends: z.number().int().min(0).max(20).default(5),
    /**
     * Abuse limits. Over any of them a device gets BYE 4008 with a `retry` (ms) spread over
     * `retrySpreadMs`, so a refused crowd does not come back at once. 0 turns one off.
     */
    limits: z.object({
      /** Connections one gateway process admits per second (admission control, checked at accept). */
      connectsPerSec: z.number().int().min(0).default(10_000),
      /** Frames one connection may send per second (PING, ACK, SUB, …; a device needs a few). */
      framesPerSec: z.number().int().min(0).default(100),
      /** Bytes one connection may send per second. */
      bytesPerSec: z.number().int().min(0).default(256 * 1024),
      /**
       * REGISTERs per source address per minute, counted in Redis across gateways. Many
       * devices can share an address (carrier NAT), so this is per address, not per device.
       */
      registrationsPerMinute: z.number().int().min(0).default(600),
      /**
       * Authenticated sessions one app may hold at once across every gateway (a tenant
       * cannot take the whole tier's capacity). Off by default: the right figure is a
       * share of a deployment's capacity, which only its operator knows. Exact within a
       * gateway, approximate across gateways (see sessionsRefreshMs).
       */
      sessionsPerApp: z.number().int().min(0).default(0),
      /**
       * How often a gateway publishes its per-app session counts to Redis and reads the
       * other gateways': a crowd spread over gateways can overshoot sessionsPerApp by what
       * they admit within this, since HELLO checks the cached view, not Redis.
       */
      sessionsRefreshMs: z.number().int().min(50).max(60_000).default(1000),
      retrySpreadMs: z.number().int().min(0).default(10_000),
    }).prefault({}),
  }).prefault({}),
  rpc: z.object({
    /**
     * Tiers in one process (`petrel all`: gateway, dispatcher, API) call each other's
     * Thrift handlers directly instead of through a loopback socket (rpc/local-rpc.ts).
     */
    inProcess: z.boolean().default(true),
  }).prefault({}),
  /** Gateways and dispatchers announce themselves in Redis with this TTL, refreshed at a third of it. */
  registry: z.object({
    ttlMs: z.number().int().min(1000).default(15_000),
  }).prefault({}),
  campaigns: z.object({
    /** Lines an uploaded campaign audience may have. */
    maxAudience: z.number().int().min(1).max(10_000_000).default(1_000_000),
  }).prefault({}),
  dispatch: z.object({
    /** Thrift DispatchService listener (gateways report to it); advertised in the registry. */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
    ...advertised,
    /**
     * Send jobs one dispatcher process works on at once; its local fan-outs (`local`)
     * have a limit of their own of the same size.
     */
    concurrency: z.number().int().min(1).max(256).default(16),
    /**
     * A process running both the API (or campaigns) and a dispatcher fans out immediate
     * unicast messages itself, at once, instead of through a send job
     * (dispatch/local-dispatch.ts); at most `concurrency` such batches at a time.
     */
    local: z.boolean().default(true),
    /** A job whose dispatcher died is taken over after this (BullMQ stalled-job check). */
    stalledIntervalMs: z.number().int().min(1000).default(30_000),
    /**
     * An accepted message still in the send outbox after this long lost its queue write
     * (Redis failed, or the API died, right after storing it) or its local fan-out: a
     * dispatcher queues it. Keep it well above how long a fan-out may take (a gateway
     * that does not answer costs up to 5 s per deliver call), or a slow one runs twice.
     */
    outboxStaleMs: z.number().int().min(100).default(10_000),
    /** Unacknowledged unicast messages kept per device; older ones are dropped and the device gets RESYNC. */
    inboxCap: z.number().int().min(1).max(100_000).default(500),
    /** Entries kept in each app's broadcast log; a device that missed more gets RESYNC cursor_gone. */
    logMaxEntries: z.number().int().min(1).max(100_000).default(1000),
    /** Sends to at most this many devices keep a per-device state trace. */
    traceDevices: z.number().int().min(0).max(10_000).default(100),
    /** How long a message's trace outlives its expiry. */
    traceRetentionSec: z.number().int().min(60).default(86_400),
    /** A device whose gateway could not be reached is retried after this (it may still be connected there). */
    redeliveryDelayMs: z.number().int().min(100).default(2000),
    /** …until this long after the first failure; then its inbox waits for its next session. */
    redeliveryGiveUpMs: z.number().int().min(1000).default(600_000),
    /**
     * A traced message's devices still without a terminal state are marked expired (and
     * their `expired` receipts sent) this long after its expiry: an ACK of a PUSH sent just
     * before the expiry still counts as delivered within it.
     */
    expiryGraceMs: z.number().int().min(100).default(60_000),
    /** Deliveries per Thrift call to one gateway. */
    deliverBatch: z.number().int().min(1).max(10_000).default(1000),
  }).prefault({}),
  messages: z.object({
    defaultTtlSec: z.number().int().min(0).default(7 * 86_400),
    maxTtlSec: z.number().int().min(0).default(7 * 86_400),
    /** Encoded (MessagePack) size cap of `data`. */
    maxDataBytes: z.number().int().min(64).max(60_000).default(4096),
    /** Devices named in one request. */
    maxDevices: z.number().int().min(1).max(10_000).default(1000),
    /** How far ahead a message may be scheduled (`sendAt`). */
    maxScheduleSec: z.number().int().min(0).max(30 * 86_400).default(7 * 86_400),
    /** Messages in one POST /v1/messages/batch. */
    maxBatch: z.number().int().min(1).max(10_000).default(500),
    /** Aliases or accounts named in one request. */
    maxNames: z.number().int().min(1).max(10_000).default(1000),
    /** Devices one user account is bound to at most (the oldest binding goes). */
    maxDevicesPerAccount: z.number().int().min(1).max(1000).default(20),
    /** Accepted messages written to Redis within this window share one transaction and one send job. */
    intakeBatchMs: z.number().int().min(0).max(50).default(2),
  }).prefault({}),
  /** Per-message delivery receipts (webhooks to a message's callbackUrl). */
  receipts: z.object({
    /** Events for one (app, callbackUrl) are held this long, then sent as one batch. */
    windowMs: z.number().int().min(1).max(60_000).default(1000),
    /** …or sooner, once this many are held. */
    maxBatch: z.number().int().min(1).max(1000).default(100),
    /** Tries per batch (the first included); after the last it goes to the app's dead letters. */
    attempts: z.number().int().min(1).max(50).default(8),
    /** First retry delay; doubles on each further retry (BullMQ exponential backoff). */
    backoffMs: z.number().int().min(10).default(1000),
    /** One POST (connect to last response byte) gives up after this. */
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
    /**
     * Whether callback URLs may point at loopback, private, link-local and other
     * non-public addresses. Off: an app server could otherwise make Petrel POST to
     * services inside the deployment (SSRF).
     */
    allowPrivateAddresses: z.boolean().default(false),
    /** Receipt POSTs one dispatcher process has in flight at once. */
    concurrency: z.number().int().min(1).max(256).default(8),
    /** Dead-lettered batches kept per app (newest first). */
    deadLetterCap: z.number().int().min(1).max(100_000).default(1000),
    /** How long an app's dead-letter list lives after its last addition. */
    deadLetterRetentionSec: z.number().int().min(60).default(7 * 86_400),
  }).prefault({}),
  /** Per-app counters by UTC hour and day. */
  stats: z.object({
    /** Counter increments are gathered in process this long and written in one pipeline. */
    flushMs: z.number().int().min(1).max(60_000).default(1000),
    /** How long an hourly bucket is kept (after its hour started). */
    hourRetentionSec: z.number().int().min(3600).default(7 * 86_400),
    /** How long a daily bucket is kept (after its day started). */
    dayRetentionSec: z.number().int().min(86_400).default(400 * 86_400),
  }).prefault({}),
  /** Ops endpoint (/metrics, /healthz, /readyz) of processes without the HTTP API. 0 = off. */
  ops: z.object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
  }).prefault({}),
  limits: z.object({
    topicsPerDevice: z.number().int().min(1).default(200),
    /**
     * Per-app rate limit of the app-server API, in points per second: a send costs one
     * point per message (a batch of 500 costs 500), any other call one. 0 = no limit.
     */
    appPointsPerSec: z.number().int().min(0).default(60_000),
  }).prefault({}),
  http: z.object({
    host: z.string().default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** HTTPS for the API (PEM files); null: plain HTTP, e.g. behind a TLS-terminating proxy. */
    tls: z.object({ certFile: z.string(), keyFile: z.string() }).nullable().default(null),
    /** JSON bodies of the API; larger → 413. */
    maxBodyBytes: z.number().int().min(1024).default(64 * 1024),
    /** JSON body of a batch send (many messages of up to 4 KiB each). */
    maxBatchBodyBytes: z.number().int().min(1024).default(2 * 1024 * 1024),
    /**
     * Processes `petrel api` runs, sharing its port (node:cluster): one event loop serves
     * one core, so a machine with cores to spare accepts more with more. 1: the process
     * itself serves. Only for `petrel api`; the other modes serve from their one process.
     */
    workers: z.number().int().min(1).max(64).default(1),
  }).prefault({}),
});

export type PetrelConfig = z.infer<typeof configSchema>;
export type GatewayConfig = PetrelConfig['gateway'];
