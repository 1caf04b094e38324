import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { closeCodeInfo, FrameType } from '../protocol/index.js';
import { registerEventLoopDelay } from './event-loop-delay.js';

/**
 * Every metric Petrel exports, created in one place against one Registry per process
 * (no global default registry, so tests can build several tiers in one process).
 * Hot paths use pre-bound label children: `metrics.framesIn.PING.inc()`, no label hashing.
 */
export function createMetrics(registry: Registry = new Registry(), options: { defaults?: boolean } = {}) {
  if (options.defaults !== false) {
    // prom-client's event-loop histogram samples with a libuv timer (its default 10 ms woke
    // an idle process 100 times a second: 0.7 % of a core per gateway here) and reports
    // the probe period as lag. Ours (event-loop-delay.ts) probes every 100 ms and reports
    // only the lateness; prom-client's probe is set to an hour so it costs nothing.
    collectDefaultMetrics({ register: registry, prefix: 'petrel_', eventLoopMonitoringPrecision: 3_600_000 });
    registerEventLoopDelay(registry, 'petrel_');
  }
  const registers = [registry];

  const framesInCounter = new Counter({ name: 'petrel_gateway_frames_in_total', help: 'Frames received from devices, by frame type.', labelNames: ['type'], registers });
  const framesOutCounter = new Counter({ name: 'petrel_gateway_frames_out_total', help: 'Frames sent to devices, by frame type.', labelNames: ['type'], registers });
  const closesCounter = new Counter({ name: 'petrel_gateway_closes_total', help: 'Device connections closed by the gateway, by close code.', labelNames: ['code', 'reason'], registers });

  const frameTypeNames = Object.keys(FrameType) as Array<keyof typeof FrameType>;
  const perType = (c: Counter<'type'>) =>
    Object.fromEntries(frameTypeNames.map((name) => [name, c.labels(name)])) as Record<keyof typeof FrameType, ReturnType<Counter<'type'>['labels']>>;

  return {
    registry,
    accepts: new Counter({ name: 'petrel_gateway_accepts_total', help: 'TCP connections accepted.', registers }),
    framesIn: perType(framesInCounter),
    framesOut: perType(framesOutCounter),
    /** Count a close: code label is the numeric code, reason its name in the protocol table. */
    close(code: number): void {
      const info = closeCodeInfo[code as keyof typeof closeCodeInfo];
      closesCounter.labels(String(code), info ? info.label : 'unknown').inc();
    },
    peerCloses: new Counter({ name: 'petrel_gateway_peer_closes_total', help: 'Connections closed by the device or the network (no BYE from us).', registers }),
    protocolErrors: new Counter({ name: 'petrel_gateway_protocol_errors_total', help: 'Protocol violations by devices, by stable error code.', labelNames: ['code'], registers }),
    authFailures: new Counter({ name: 'petrel_gateway_auth_failures_total', help: 'Failed REGISTER/HELLO attempts, by reason.', labelNames: ['reason'], registers }),
    registrations: new Counter({ name: 'petrel_gateway_registrations_total', help: 'Devices registered.', registers }),
    rateLimited: new Counter({ name: 'petrel_gateway_rate_limited_total', help: 'Connections refused or closed with 4008 by an abuse limit, by limit (connects, frames, bytes, registrations, sessions).', labelNames: ['limit'], registers }),
    sessions: new Counter({ name: 'petrel_gateway_sessions_total', help: 'Sessions authenticated (WELCOME sent).', registers }),
    sessionsReplaced: new Counter({ name: 'petrel_gateway_sessions_replaced_total', help: 'Sessions closed because the device connected again (4006).', registers }),
    helloSeconds: new Histogram({ name: 'petrel_gateway_hello_duration_seconds', help: 'HELLO received to WELCOME sent.', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers }),
    sweepSeconds: new Histogram({ name: 'petrel_gateway_sweep_duration_seconds', help: 'Duration of one liveness sweep over all connections.', buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1], registers }),
    pushesSent: new Counter({ name: 'petrel_gateway_pushes_sent_total', help: 'PUSH frames written to device sockets.', registers }),
    publishWaves: new Counter({ name: 'petrel_gateway_publish_waves_total', help: 'Broadcast fan-out waves: passes over the sessions, each writing the PUSHes of the publishes that waited for it.', registers }),
    publishesLate: new Counter({ name: 'petrel_gateway_publishes_late_total', help: 'Broadcast publishes that arrived after a later seq of the same app log had been written here (catch-up then keeps checking them against ACKs).', registers }),
    publishesPerWave: new Histogram({ name: 'petrel_gateway_publishes_per_wave', help: 'Broadcast publishes fanned out together in one wave (each session gets their PUSHes in one write).', buckets: [1, 2, 4, 8, 16, 32], registers }),
    acksReceived: new Counter({ name: 'petrel_gateway_acked_ids_total', help: 'Message ids acknowledged by devices.', registers }),
    connections: new Gauge({ name: 'petrel_gateway_connections', help: 'Open device connections, by state.', labelNames: ['state'], registers }),
    pushesResent: new Counter({ name: 'petrel_gateway_pushes_resent_total', help: 'PUSH frames sent again because no ACK came within the ACK timeout.', registers }),
    reportsSent: new Counter({ name: 'petrel_gateway_reports_total', help: 'Report batches sent to a dispatcher, by outcome.', labelNames: ['outcome'], registers }),
    reportsDropped: new Counter({ name: 'petrel_gateway_reports_dropped_total', help: 'ACK reports dropped because no dispatcher answered and the backlog was full (their messages are re-sent later).', registers }),
    // dispatch tier
    messagesAccepted: new Counter({ name: 'petrel_messages_accepted_total', help: 'Messages stored durably and queued for dispatch.', registers }),
    messagesDispatched: new Counter({ name: 'petrel_dispatch_messages_total', help: 'Messages fanned out to device inboxes.', registers }),
    deliveriesRouted: new Counter({ name: 'petrel_dispatch_deliveries_total', help: 'Frames handed to a gateway that held the device.', registers }),
    broadcastPushes: new Counter({ name: 'petrel_dispatch_broadcast_pushes_total', help: 'PUSHes of broadcasts written by gateways (live fan-out, as they reported it).', registers }),
    logCatchUp: new Counter({ name: 'petrel_dispatch_log_catch_up_total', help: 'Broadcast log entries replayed to devices coming online.', registers }),
    broadcastAcks: new Counter({ name: 'petrel_dispatch_broadcast_acks_total', help: 'Broadcast ACKs counted (the first from each device).', registers }),
    inboxReplayed: new Counter({ name: 'petrel_dispatch_inbox_replayed_total', help: 'Inbox messages replayed to devices coming online.', registers }),
    localDispatches: new Counter({ name: 'petrel_dispatch_local_messages_total', help: 'Messages fanned out by the process that accepted them, without a send job (dispatched), or queued as one after that failed (queued).', labelNames: ['outcome'], registers }),
    sendJobSeconds: new Histogram({ name: 'petrel_dispatch_send_job_duration_seconds', help: 'Duration of one send job (a batch of accepted messages).', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers }),
    deliveryEvents: new Counter({ name: 'petrel_delivery_events_total', help: 'Delivery events emitted (each counted once), by type.', labelNames: ['type'], registers }),
    receiptsSent: new Counter({ name: 'petrel_receipts_sent_total', help: 'Receipt batches a callback URL accepted (2xx).', registers }),
    receiptsFailed: new Counter({ name: 'petrel_receipts_failed_total', help: 'Receipt POST attempts that failed (non-2xx, timeout, connection error); retried with backoff.', registers }),
    receiptsDeadLettered: new Counter({ name: 'petrel_receipts_dead_lettered_total', help: 'Receipt batches moved to their app\'s dead-letter list after the last attempt.', registers }),
    statsFlushes: new Counter({ name: 'petrel_stats_flushes_total', help: 'Per-app counter flushes to Redis (one pipeline each), by outcome.', labelNames: ['outcome'], registers }),
    rpcErrors: new Counter({ name: 'petrel_rpc_errors_total', help: 'Failed Thrift calls between tiers, by service method and error code.', labelNames: ['method', 'code'], registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
