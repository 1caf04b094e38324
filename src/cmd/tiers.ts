import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Queue } from 'bullmq';
import type { RequestHandler, Router } from 'express';
import type { Redis, RedisOptions } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { createHttpApp } from '../api/http-app.js';
import { adminAuth } from '../api/admin-auth.js';
import { errorAnswer } from '../api/answers.js';
import { apiOperations } from '../api/api-operations.js';
import { openApiDocument } from '../api/openapi.js';
import { PETREL_VERSION } from './version.js';
import { appsRouter } from '../api/apps-router.js';
import { bindingsRouter } from '../api/bindings-router.js';
import { devicesRouter } from '../api/devices-router.js';
import { messageSends, messagesRouter } from '../api/messages-router.js';
import { appRateLimit } from '../api/rate-limit.js';
import { receiptsRouter } from '../api/receipts-router.js';
import { statsRouter } from '../api/stats-router.js';
import { serverAuth } from '../api/server-auth.js';
import { topicsRouter } from '../api/topics-router.js';
import { Courier } from '../dispatch/courier.js';
import { DeviceInvalidation } from '../dispatch/device-invalidation.js';
import { DeliveryEvents } from '../dispatch/delivery-events.js';
import { ExpirySweep } from '../dispatch/expiry-sweep.js';
import { dispatchRpcHandler } from '../dispatch/dispatch-rpc.js';
import { Broadcaster } from '../dispatch/broadcaster.js';
import { GatewayDirectory } from '../dispatch/gateway-directory.js';
import { LogCatchUp } from '../dispatch/log-catch-up.js';
import { TopicSync } from '../dispatch/topic-sync.js';
import { BroadcastRevocation } from '../dispatch/broadcast-revocation.js';
import { BroadcastLog } from '../store/broadcast-log.js';
import { CampaignStore } from '../store/campaign-store.js';
import { CampaignControl } from '../dispatch/campaign-control.js';
import { CampaignRunner, createCampaignQueue } from '../dispatch/campaign-runner.js';
import { CampaignSeries } from '../dispatch/campaign-series.js';
import { campaignsRouter } from '../api/campaigns-router.js';
import { MessageDispatcher } from '../dispatch/message-dispatcher.js';
import { InboxReplay } from '../dispatch/inbox-replay.js';
import { MessageIntake } from '../dispatch/message-intake.js';
import { LocalDispatch } from '../dispatch/local-dispatch.js';
import { ReceiptBatcher } from '../dispatch/receipt-batcher.js';
import { createReceiptQueue, createReceiptWorker, type ReceiptJob } from '../dispatch/receipt-queue.js';
import { ReceiptSender } from '../dispatch/receipt-sender.js';
import { Redeliverer } from '../dispatch/redeliverer.js';
import { createSendQueue, createSendWorker, type SendJob } from '../dispatch/send-queue.js';
import { SendOutbox } from '../dispatch/send-outbox.js';
import { SessionReports } from '../dispatch/session-reports.js';
import { StatsRecorder } from '../dispatch/stats-recorder.js';
import { SubscriptionStore } from '../dispatch/subscriptions.js';
import { newSessionId } from '../domain/ids.js';
import { DeviceAuthenticator } from '../gateway/device-auth.js';
import { DispatchClient } from '../gateway/dispatch-client.js';
import { DispatchReporter } from '../gateway/dispatch-reporter.js';
import { gatewayRpcHandler } from '../gateway/gateway-rpc.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { AppSessionLimit } from '../gateway/app-session-limit.js';
import type { SessionHooks } from '../gateway/session-hooks.js';
import { WireCodec } from '../protocol/index.js';
import { Announcer, advertisedAddress } from '../rpc/announcer.js';
import { DispatchService, GatewayService } from '../rpc/gen/index.js';
import { NodePools } from '../rpc/node-pools.js';
import { startThriftServer, type ThriftServer } from '../rpc/thrift-server.js';
import { LocalRpc, type LocalHandler, type RpcCaller } from '../rpc/local-rpc.js';
import type { GeneratedClient } from '../rpc/rpc-pool.js';
import { AppStore } from '../store/app-store.js';
import { BindingStore } from '../store/binding-store.js';
import { DeviceStore } from '../store/device-store.js';
import { IdempotencyStore } from '../store/idempotency-store.js';
import { ExpirySchedule } from '../store/expiry-schedule.js';
import { InboxStore } from '../store/inbox-store.js';
import { LoadingCache } from '../store/loading-cache.js';
import { MessageStore } from '../store/message-store.js';
import { NodeRegistry } from '../store/node-registry.js';
import { ReceiptDeadLetters } from '../store/receipt-dead-letters.js';
import { createRedis } from '../store/redis.js';
import { RedeliverySchedule } from '../store/redelivery-schedule.js';
import { RouteStore } from '../store/route-store.js';
import { SessionCountStore } from '../store/session-counts.js';
import { StatsStore } from '../store/stats-store.js';
import { TurnPipeline } from '../store/turn-pipeline.js';
import type { Runtime } from './runtime.js';

/** Registry lookups are cached this long by callers (a dead peer is noticed on the next failed call anyway). */
const REGISTRY_REFRESH_MS = 1000;
const RPC_TIMEOUT_MS = 5000;
/** On shutdown, requests in flight get this long to be answered. */
const HTTP_DRAIN_MS = 2000;

/** Options of a tier's client pools; with `rpc.inProcess`, nodes of this process are called directly. */
function poolOptions<C extends GeneratedClient>(rt: Runtime, local: ReadonlyMap<string, RpcCaller<C>>) {
  return { refreshMs: REGISTRY_REFRESH_MS, callTimeoutMs: RPC_TIMEOUT_MS, ...(rt.config.rpc.inProcess ? { local } : {}) };
}

/**
 * A tier's Thrift server, also offered to callers in this process (`rpc.inProcess`)
 * until it closes: then they go through the registry like everyone else.
 */
function servedInProcess<C>(
  rt: Runtime, local: Map<string, RpcCaller<C>>, id: string, handler: LocalHandler<C>, onError: (err: unknown, context: string) => void, server: ThriftServer,
): ThriftServer {
  if (!rt.config.rpc.inProcess) return server;
  local.set(id, new LocalRpc<C>(handler, `${id} (in process)`, RPC_TIMEOUT_MS, (method, err) => onError(err, `handler ${method}`)));
  return {
    host: server.host,
    port: server.port,
    close: async () => {
      local.delete(id);
      await server.close();
    },
  };
}

function messageStore(rt: Runtime, redis: Redis, scripts = new TurnPipeline(redis)): MessageStore {
  return new MessageStore(redis, rt.keys, scripts, rt.config.dispatch.traceRetentionSec * 1000);
}

/**
 * The connection a process's BullMQ queues (send, receipts) share. BullMQ defines its ~50
 * Lua commands on the connection it is given, and ioredis copies every defined command
 * onto each pipeline it creates: shared with our own commands, that made every pipeline
 * (one per request) several times dearer. Auto-pipelining off as well: each
 * auto-pipeline would copy those commands again.
 */
function queueConnection(rt: Runtime, redisOptions: RedisOptions = {}): Redis {
  const queueRedis = createRedis(rt.config.redis.url, rt.log, { ...redisOptions, enableAutoPipelining: false });
  rt.onClose(async () => { await queueRedis.quit().catch(() => queueRedis.disconnect()); });
  return queueRedis;
}

function receiptQueueOf(rt: Runtime, queueRedis: Redis) {
  const queue = createReceiptQueue(queueRedis, rt.keys, { attempts: rt.config.receipts.attempts, backoffMs: rt.config.receipts.backoffMs });
  queue.on('error', (err) => rt.log.warn({ err: err.message }, 'receipt queue error'));
  rt.onClose(() => queue.close());
  return queue;
}

function statsStoreOf(rt: Runtime, redis: Redis): StatsStore {
  const { stats } = rt.config;
  return new StatsStore(redis, rt.keys, { hour: stats.hourRetentionSec * 1000, day: stats.dayRetentionSec * 1000 });
}

/** Per-process counter batching; registered before the intake so it closes (flushes) after it. */
function statsRecorderOf(rt: Runtime, redis: Redis): StatsRecorder {
  const recorder = new StatsRecorder(statsStoreOf(rt, redis), rt.config.stats.flushMs, rt.metrics, rt.log);
  rt.onClose(() => recorder.close());
  return recorder;
}

/**
 * Delivery events feeding statistics and receipts, for a process that emits them.
 * Closed (flushed) after everything that emits events has stopped: closers run
 * last-registered first.
 */
function deliveryEventsOf(rt: Runtime, redis: Redis, receiptQueue: Queue<ReceiptJob>): { stats: StatsRecorder; events: DeliveryEvents } {
  const stats = statsRecorderOf(rt, redis);
  const batcher = new ReceiptBatcher(receiptQueue, { windowMs: rt.config.receipts.windowMs, maxBatch: rt.config.receipts.maxBatch }, rt.log);
  rt.onClose(() => batcher.close());
  const series = new CampaignSeries(new CampaignStore(redis, rt.keys), rt.config.stats.flushMs, rt.log);
  rt.onClose(() => series.close());
  return { stats, events: new DeliveryEvents([stats, batcher, series], rt.metrics, rt.log) };
}

function deadLettersOf(rt: Runtime, redis: Redis): ReceiptDeadLetters {
  const { receipts } = rt.config;
  return new ReceiptDeadLetters(redis, rt.keys, receipts.deadLetterCap, receipts.deadLetterRetentionSec * 1000);
}

function intakeOf(rt: Runtime, redis: Redis, messages: MessageStore, queueRedis: Redis, stats: StatsRecorder): { intake: MessageIntake; queue: Queue<SendJob> } {
  const { config } = rt;
  const queue = createSendQueue(queueRedis, rt.keys);
  queue.on('error', (err) => rt.log.warn({ err: err.message }, 'send queue error'));
  const intake = new MessageIntake(
    redis, rt.keys, messages, queue, new WireCodec(config.codec),
    { defaultTtlSec: config.messages.defaultTtlSec, maxDataBytes: config.messages.maxDataBytes, batchMs: config.messages.intakeBatchMs, maxScheduleSec: config.messages.maxScheduleSec },
    rt.metrics, rt.log, stats,
    () => rt.local.dispatch,
  );
  rt.onClose(async () => {
    await intake.close();
    await queue.close();
  });
  return { intake, queue };
}

/**
 * Builds and starts a gateway on the runtime; drained on runtime close. Without `hooks`
 * it reports to the dispatch tier over Thrift and serves GatewayService for it; tests of
 * the gateway alone pass hooks of their own.
 */
export async function startGateway(rt: Runtime, deviceKey: Buffer, hooks?: SessionHooks): Promise<GatewayServer> {
  const { config } = rt;
  const apps = new AppStore(rt.redis, rt.keys);
  const auth = new DeviceAuthenticator(
    new LoadingCache((appId) => apps.get(appId), config.gateway.appCacheMs),
    new DeviceStore(rt.redis, rt.keys, config.gateway.helloBatchMs),
    deviceKey,
    config.auth.helloWindowMs,
    config.gateway.limits.registrationsPerMinute > 0
      ? new RateLimiterRedis({ storeClient: rt.redis, keyPrefix: `${rt.keys.rateLimitPrefix()}:register`, points: config.gateway.limits.registrationsPerMinute, duration: 60, rejectIfRedisNotReady: true })
      : null,
  );
  const registry = new NodeRegistry(rt.redis, rt.keys);
  let reporter: DispatchReporter | null = null;
  const gatewayId = config.gateway.id || `gw-${newSessionId()}`;
  if (!hooks) {
    const dispatchers = new NodePools(registry, 'dispatcher', DispatchService.Client, poolOptions(rt, rt.local.dispatchers));
    rt.onClose(() => dispatchers.close());
    reporter = new DispatchReporter(
      new DispatchClient(dispatchers),
      { gatewayId, intervalMs: config.gateway.reportIntervalMs, backlog: config.gateway.reportBacklog, maxEntries: config.gateway.reportMaxEntries },
      rt.metrics, rt.log,
    );
  }
  const gateway = new GatewayServer({
    config: { ...config.gateway, id: gatewayId },
    codec: new WireCodec(config.codec),
    metrics: rt.metrics,
    log: rt.log,
    auth,
    hooks: hooks ?? reporter!,
    // Counts lapse with the registry TTL: a gateway killed -9 stops counting against its
    // apps' limits when it would stop being listed (docs/architecture.md, "Sessions per app").
    sessionLimit: new AppSessionLimit(
      new SessionCountStore(rt.redis, rt.keys),
      { counter: `${gatewayId}.${newSessionId()}`, refreshMs: config.gateway.limits.sessionsRefreshMs, lapseMs: config.registry.ttlMs },
      rt.log,
    ),
  });
  await gateway.listen();
  if (reporter) {
    const handler = gatewayRpcHandler(gateway);
    const onError = (err: unknown, context: string) => rt.log.warn({ err, context }, 'gateway rpc error');
    const rpc = servedInProcess(rt, rt.local.gateways, gateway.id, handler, onError, await startThriftServer({
      service: GatewayService, handler, host: config.gateway.rpc.host, port: config.gateway.rpc.port, onError,
    }));
    const { host, port } = advertisedAddress(config.gateway.rpc, rpc);
    const announcer = new Announcer(registry, 'gateway', () => ({ id: gateway.id, host, port, load: gateway.sessionCount }), config.registry.ttlMs, rt.log);
    await announcer.start();
    const r = reporter;
    rt.onClose(async () => {
      await rpc.close();
      await r.close();
      await announcer.stop();
    });
  }
  // Closers run last-registered first: devices are told to leave (and their OFFLINE
  // reports flushed) before the RPC server and the reporter stop.
  rt.onClose(async () => {
    await gateway.drain();
    await reporter?.flush().catch(() => undefined);
  });
  return gateway;
}

export interface Dispatcher {
  id: string;
  rpcPort: number;
}

/** Starts a dispatcher: the send-job worker and the DispatchService gateways report to. */
export async function startDispatcher(rt: Runtime): Promise<Dispatcher> {
  const { config } = rt;
  const scripts = new TurnPipeline(rt.redis, 0, 1024);
  const messages = messageStore(rt, rt.redis, scripts);
  const inbox = new InboxStore(rt.redis, rt.keys, scripts, config.dispatch.inboxCap);
  const routes = new RouteStore(rt.redis, rt.keys);
  const registry = new NodeRegistry(rt.redis, rt.keys);
  const gatewayPools = new NodePools(registry, 'gateway', GatewayService.Client, poolOptions(rt, rt.local.gateways));
  const gateways = new GatewayDirectory(gatewayPools, rt.metrics, rt.log);
  const schedule = new RedeliverySchedule(rt.redis, rt.keys, config.dispatch.redeliveryDelayMs);
  const courier = new Courier(gateways, messages, schedule, rt.metrics, config.dispatch.deliverBatch);

  // Delivery events feed statistics and receipts. Closed (flushed) after everything that
  // emits events has stopped: closers run last-registered first.
  const queueRedis = queueConnection(rt);
  const { stats, events } = deliveryEventsOf(rt, rt.redis, receiptQueueOf(rt, queueRedis));

  const replay = new InboxReplay(new WireCodec(config.codec), inbox, messages, rt.metrics, events);
  const expiries = new ExpirySchedule(rt.redis, rt.keys);
  const sweep = new ExpirySweep(expiries, inbox, messages, events, { intervalMs: Math.min(1000, config.dispatch.expiryGraceMs), batch: 500 }, rt.log);
  const redeliverer = new Redeliverer(schedule, routes, replay, courier, {
    intervalMs: Math.min(1000, config.dispatch.redeliveryDelayMs), batch: 500, giveUpMs: config.dispatch.redeliveryGiveUpMs,
  }, rt.log);
  const codec = new WireCodec(config.codec);
  const broadcasts = new BroadcastLog(rt.redis, rt.keys, scripts, config.dispatch.logMaxEntries);
  const broadcaster = new Broadcaster(rt.redis, rt.keys, broadcasts, gateways, codec, rt.metrics, rt.log);
  const catchUp = new LogCatchUp(rt.redis, rt.keys, broadcasts, codec, rt.metrics);
  const reports = new SessionReports({
    replay, catchUp, broadcasts, messages, routes, courier, gateways, events, metrics: rt.metrics, log: rt.log,
    subscriptions: new SubscriptionStore(rt.redis, rt.keys, config.limits.topicsPerDevice),
  });
  const dispatcher = new MessageDispatcher({
    redis: rt.redis, keys: rt.keys, messages, inbox, routes, courier, broadcaster, events, metrics: rt.metrics, log: rt.log,
    expiries, expiryGraceMs: config.dispatch.expiryGraceMs,
    bindings: new BindingStore(rt.redis, rt.keys, config.messages.maxDevicesPerAccount),
    traceDevices: config.dispatch.traceDevices,
  });

  // BullMQ's blocking worker connection must retry forever (maxRetriesPerRequest null).
  const workerRedis = createRedis(config.redis.url, rt.log, { maxRetriesPerRequest: null, enableAutoPipelining: false });
  const worker = createSendWorker(workerRedis, rt.keys, { concurrency: config.dispatch.concurrency, stalledIntervalMs: config.dispatch.stalledIntervalMs }, async (job) => {
    const started = performance.now();
    await dispatcher.dispatch(job.data.ids);
    rt.metrics.sendJobSeconds.observe((performance.now() - started) / 1000);
  });
  worker.on('error', (err) => rt.log.warn({ err: err.message }, 'send worker error'));
  worker.on('failed', (job, err) => rt.log.warn({ job: job?.id, attempts: job?.attemptsMade, err: err.message }, 'send job failed; retried'));

  const { intake, queue } = intakeOf(rt, rt.redis, messages, queueRedis, stats);
  const runner = new CampaignRunner({
    redis: rt.redis, keys: rt.keys, campaigns: new CampaignStore(rt.redis, rt.keys), intake, messages, broadcaster, log: broadcasts, logger: rt.log,
  });
  const campaignRedis = createRedis(config.redis.url, rt.log, { maxRetriesPerRequest: null, enableAutoPipelining: false });
  const campaignWorker = runner.worker(campaignRedis, { concurrency: 16, stalledIntervalMs: config.dispatch.stalledIntervalMs });
  campaignWorker.on('error', (err) => rt.log.warn({ err: err.message }, 'campaign worker error'));
  campaignWorker.on('failed', (job, err) => rt.log.warn({ job: job?.id, err: err.message }, 'campaign run failed; retried'));
  rt.onClose(async () => {
    await campaignWorker.close();
    await campaignRedis.quit().catch(() => campaignRedis.disconnect());
  });
  const outbox = new SendOutbox(messages, queue, { intervalMs: 2000, staleMs: config.dispatch.outboxStaleMs, batch: 500 }, rt.log);
  const apps = new AppStore(rt.redis, rt.keys);
  const secrets = new LoadingCache((appId) => apps.receiptSecret(appId), config.gateway.appCacheMs);
  const sender = new ReceiptSender({
    secretOf: (appId) => secrets.get(appId), deadLetters: deadLettersOf(rt, rt.redis), timeoutMs: config.receipts.timeoutMs,
    allowPrivateAddresses: config.receipts.allowPrivateAddresses, metrics: rt.metrics, log: rt.log,
  });
  // Receipt POSTs run beside the send worker, on a blocking connection of their own.
  const receiptRedis = createRedis(config.redis.url, rt.log, { maxRetriesPerRequest: null, enableAutoPipelining: false });
  const receiptWorker = createReceiptWorker(receiptRedis, rt.keys, { concurrency: config.receipts.concurrency, stalledIntervalMs: config.dispatch.stalledIntervalMs }, (job) => sender.run(job));
  receiptWorker.on('error', (err) => rt.log.warn({ err: err.message }, 'receipt worker error'));

  const id = `dp-${newSessionId()}`;
  const handler = dispatchRpcHandler(reports, intake, apps, config.messages.maxTtlSec);
  const onError = (err: unknown, context: string) => rt.log.warn({ err, context }, 'dispatch rpc error');
  const rpc = servedInProcess(rt, rt.local.dispatchers, id, handler, onError, await startThriftServer({
    service: DispatchService, handler, host: config.dispatch.host, port: config.dispatch.port, onError,
  }));
  const { host, port } = advertisedAddress(config.dispatch, rpc);
  const announcer = new Announcer(registry, 'dispatcher', () => ({ id, host, port, load: 0 }), config.registry.ttlMs, rt.log);
  await announcer.start();
  redeliverer.start();
  sweep.start();
  outbox.start();
  rt.onClose(async () => {
    await announcer.stop();
    await redeliverer.stop();
    await sweep.stop();
    await outbox.stop();
    await worker.close();
    await workerRedis.quit().catch(() => workerRedis.disconnect());
    await receiptWorker.close();
    await receiptRedis.quit().catch(() => receiptRedis.disconnect());
    await rpc.close();
    await gatewayPools.close();
  });
  if (config.dispatch.local) {
    const local = new LocalDispatch(dispatcher, messages, queue, config.dispatch.concurrency, rt.metrics, rt.log);
    rt.local.dispatch = local;
    // Registered after the rest of the dispatcher, so closed before it: fan-outs in
    // progress finish while the courier, the gateways' pools and Redis are still there;
    // what the intakes flush later goes to BullMQ.
    rt.onClose(() => local.close());
  }
  rt.log.info({ id, rpcPort: rpc.port }, 'dispatcher running');
  return { id, rpcPort: rpc.port };
}

/**
 * The app server's device and topic management (devices, topics, bindings). The devices
 * router goes before the bindings router, whose `/v1/devices/:id/:kind` would take
 * `topics` as well.
 */
function managementRouters(rt: Runtime, redis: Redis, messages: MessageStore, events: DeliveryEvents, gateways: GatewayDirectory, gatewayPools: NodePools<GatewayService.Client>): Router[] {
  const { config } = rt;
  const bindings = new BindingStore(redis, rt.keys, config.messages.maxDevicesPerAccount);
  const devices = new DeviceStore(redis, rt.keys);
  const routes = new RouteStore(redis, rt.keys);
  const subscriptions = new SubscriptionStore(redis, rt.keys, config.limits.topicsPerDevice, new TopicSync(routes, gateways));
  const invalidation = new DeviceInvalidation({
    devices, routes, bindings, subscriptions, messages, events, gateways,
    inbox: new InboxStore(redis, rt.keys, new TurnPipeline(redis), config.dispatch.inboxCap),
  });
  const liveGateways = async () => new Set((await gatewayPools.live()).map((g) => g.id));
  return [
    devicesRouter({ redis, keys: rt.keys, devices, routes, liveGateways, bindings, subscriptions, invalidation }),
    topicsRouter(redis, rt.keys, subscriptions),
    bindingsRouter(redis, rt.keys, bindings),
  ];
}

/**
 * Starts an HTTP server: the app-server API on `config.http`, or only the ops endpoints on
 * `config.ops` for tiers without the API (a gateway's /metrics). `options.metrics`
 * replaces the process's registry on `/metrics` (an API worker answers for all workers).
 */
export async function startHttp(
  rt: Runtime,
  which: 'http' | 'ops' = 'http',
  options: { adminToken?: string | null; metrics?: Pick<Registry, 'contentType' | 'metrics'> } = {},
): Promise<number> {
  const { config } = rt;
  let api;
  let admin;
  if (which === 'http') {
    // Fail fast while Redis is down: a command waits at most for the next reconnect
    // attempt (≤ 500 ms), then the request gets 503, instead of queueing.
    const failFast: RedisOptions = { maxRetriesPerRequest: 0, retryStrategy: (n) => Math.min(50 * 2 ** n, 500) };
    const redis = createRedis(config.redis.url, rt.log, failFast);
    rt.onClose(async () => { await redis.quit().catch(() => redis.disconnect()); });
    const messages = messageStore(rt, redis);
    const queueRedis = queueConnection(rt, failFast);
    const receiptQueue = receiptQueueOf(rt, queueRedis);
    // The API emits delivery events too: invalidating a device fails what waited for it.
    const { stats, events } = deliveryEventsOf(rt, redis, receiptQueue);
    const { intake, queue } = intakeOf(rt, redis, messages, queueRedis, stats);
    // The API reaches gateways itself: closing an invalidated device's session, topic
    // changes made by the app server, revoked broadcasts.
    const gatewayPools = new NodePools(new NodeRegistry(redis, rt.keys), 'gateway', GatewayService.Client, poolOptions(rt, rt.local.gateways));
    rt.onClose(() => gatewayPools.close());
    const gateways = new GatewayDirectory(gatewayPools, rt.metrics, rt.log);
    const broadcasts = new BroadcastLog(redis, rt.keys, new TurnPipeline(redis), config.dispatch.logMaxEntries);
    const revocation = new BroadcastRevocation(redis, rt.keys, broadcasts, gateways, queue, new WireCodec(config.codec));
    const campaignQueue = createCampaignQueue(queueRedis, rt.keys);
    campaignQueue.on('error', (err) => rt.log.warn({ err: err.message }, 'campaign queue error'));
    rt.onClose(() => campaignQueue.close());
    const campaigns = new CampaignControl(new CampaignStore(redis, rt.keys), campaignQueue, intake, messages, broadcasts, config.campaigns.maxAudience);
    const apps = new AppStore(redis, rt.keys);
    const idempotency = new IdempotencyStore(redis, rt.keys, { doneMs: 86_400_000, pendingMs: 10_000 });
    const auth: RequestHandler[] = [serverAuth(apps, config.gateway.appCacheMs)];
    if (config.limits.appPointsPerSec > 0) {
      // rejectIfRedisNotReady: while Redis is down the request fails at once (503), not after a reconnect attempt.
      const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: rt.keys.rateLimitPrefix(), points: config.limits.appPointsPerSec, duration: 1, rejectIfRedisNotReady: true });
      auth.push(appRateLimit(limiter, config.messages.maxBatch));
    }
    const sends = messageSends(intake, idempotency, config.messages);
    api = {
      auth,
      routers: [
        messagesRouter(intake, messages, idempotency, config.messages, revocation, sends),
        ...managementRouters(rt, redis, messages, events, gateways, gatewayPools),
        statsRouter(statsStoreOf(rt, redis)),
        campaignsRouter(campaigns, config.messages),
        receiptsRouter({ apps, deadLetters: deadLettersOf(rt, redis), queue: receiptQueue }),
      ],
      maxBodyBytes: config.http.maxBodyBytes,
      bodyLimits: { '/v1/messages/batch': config.http.maxBatchBodyBytes },
      sendLane: { '/v1/messages': sends.send, '/v1/messages/batch': sends.batch },
    };
    if (options.adminToken) admin = { auth: adminAuth(options.adminToken), router: appsRouter(apps) };
  }
  const app = createHttpApp({
    registry: options.metrics ?? rt.metrics.registry,
    log: rt.log,
    ready: async () => (await rt.redis.ping()) === 'PONG',
    ...(api ? { api } : {}),
    ...(admin ? { admin } : {}),
    ...(api ? { openApi: openApiDocument(apiOperations(config.messages), { version: PETREL_VERSION, errorSchema: errorAnswer }) } : {}),
  });
  const { host, port: wanted } = config[which];
  // TLS for the API listener only: ops endpoints stay on loopback HTTP for scrapers.
  const tlsFiles = which === 'http' ? config.http.tls : null;
  const server = tlsFiles
    ? https.createServer({ cert: readFileSync(tlsFiles.certFile), key: readFileSync(tlsFiles.keyFile) }, app).listen(wanted, host)
    : http.createServer(app).listen(wanted, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  rt.log.info({ host, port, which, tls: Boolean(tlsFiles) }, 'http listening');
  // Closed first (closers run last-registered first): no new connections, idle ones
  // closed, requests in flight answered while the intake and Redis behind them are still
  // open; whatever is still open after HTTP_DRAIN_MS is cut.
  rt.onClose(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), HTTP_DRAIN_MS).unref();
      }),
  );
  return port;
}
