import { Int64 } from 'thrift';
import { APP_LOG, AUDIENCE_BUCKETS } from '../domain/audience.js';
import type { BroadcastPublish, OutboundDelivery, ReportBatch, ReportOutcome, SessionReport } from './contract.js';
import * as gen from './gen/index.js';

/**
 * Plain contract data (rpc/contract.ts) ⇄ generated Thrift structs, in one place for
 * both tiers. i64 travels as Int64; every i64 we send (unix ms, log seqs) fits a double.
 */

const toNumber = (v: Int64 | number | undefined): number | undefined => (v === undefined ? undefined : typeof v === 'number' ? v : v.toNumber());

export function deliveriesToThrift(deliveries: readonly OutboundDelivery[]): gen.Delivery[] {
  return deliveries.map((d) => {
    const args: gen.IDeliveryArgs = { device: d.deviceId, frame: d.frame };
    if (d.sessionId !== '') args.session = d.sessionId;
    if (d.messageId !== undefined) args.messageId = d.messageId;
    if (d.expiresAt !== undefined) args.expiresAt = d.expiresAt;
    return new gen.Delivery(args);
  });
}

export function deliveriesFromThrift(batch: readonly gen.Delivery[]): OutboundDelivery[] {
  return batch.map((d) => {
    const out: OutboundDelivery = { deviceId: d.device, sessionId: d.session ?? '', frame: d.frame };
    if (d.messageId !== undefined) out.messageId = d.messageId;
    const exp = toNumber(d.expiresAt);
    if (exp !== undefined) out.expiresAt = exp;
    return out;
  });
}

export function reportToThrift(batch: ReportBatch): gen.ReportBatch {
  return new gen.ReportBatch({
    gateway: batch.gatewayId,
    sessions: batch.sessions.map((s) => {
      const args: gen.ISessionEventArgs = {
        kind: s.kind === 'online' ? gen.SessionEventKind.ONLINE : gen.SessionEventKind.OFFLINE,
        device: s.deviceId, app: s.appId, session: s.sessionId,
      };
      if (s.closeCode !== undefined) args.closeCode = s.closeCode;
      if (s.cursors) args.cursors = new Map(Object.entries(s.cursors).map(([log, seq]) => [log, new Int64(seq)]));
      if (s.deviceNo !== undefined) args.deviceNo = s.deviceNo;
      if (s.topicsVersion !== undefined) args.topicsVersion = new Int64(s.topicsVersion);
      return new gen.SessionEvent(args);
    }),
    acks: batch.acks.map((a) => new gen.AckReport({ device: a.deviceId, app: a.appId, ids: a.ids, ...(a.deviceNo === undefined ? {} : { deviceNo: a.deviceNo }) })),
    broadcastAcks: batch.broadcastAcks.map((b) => new gen.BroadcastAcks({ app: b.appId, messageId: b.messageId, deviceNos: b.deviceNos })),
    opened: batch.opened.map((o) => new gen.OpenedReport({ device: o.deviceId, app: o.appId, messageId: o.messageId })),
    subscriptions: batch.subscriptions.map((s) => new gen.SubscriptionChange({ ref: s.ref, device: s.deviceId, app: s.appId, topics: s.topics, subscribe: s.subscribe })),
  });
}

export function reportFromThrift(batch: gen.ReportBatch): ReportBatch {
  return {
    gatewayId: batch.gateway,
    sessions: batch.sessions.map((s) => {
      const out: SessionReport = { kind: s.kind === gen.SessionEventKind.ONLINE ? 'online' : 'offline', deviceId: s.device, appId: s.app, sessionId: s.session };
      if (s.closeCode !== undefined) out.closeCode = s.closeCode;
      if (s.cursors) out.cursors = Object.fromEntries([...s.cursors].map(([log, seq]) => [log, seq.toNumber()]));
      if (s.deviceNo !== undefined && s.deviceNo !== null) out.deviceNo = s.deviceNo;
      if (s.topicsVersion !== undefined && s.topicsVersion !== null) out.topicsVersion = s.topicsVersion.toNumber();
      return out;
    }),
    acks: batch.acks.map((a) => ({ deviceId: a.device, appId: a.app, ids: a.ids, ...(a.deviceNo === undefined || a.deviceNo === null ? {} : { deviceNo: a.deviceNo }) })),
    broadcastAcks: (batch.broadcastAcks ?? []).map((b) => ({ appId: b.app, messageId: b.messageId, deviceNos: b.deviceNos })),
    opened: batch.opened.map((o) => ({ deviceId: o.device, appId: o.app, messageId: o.messageId })),
    subscriptions: batch.subscriptions.map((s) => ({ ref: s.ref, deviceId: s.device, appId: s.app, topics: s.topics, subscribe: s.subscribe })),
  };
}

export function publishToThrift(p: BroadcastPublish): gen.LogEntry {
  return new gen.LogEntry({
    app: p.appId, log: APP_LOG, seq: p.seq, frame: p.frame, messageId: p.messageId, expiresAt: p.expiresAt,
    filter: p.filter, fromBucket: p.fromBucket, toBucket: p.toBucket,
  });
}

export function publishFromThrift(e: gen.LogEntry): BroadcastPublish {
  return {
    appId: e.app, seq: toNumber(e.seq) ?? 0, filter: e.filter ?? '', fromBucket: e.fromBucket ?? 0, toBucket: e.toBucket ?? AUDIENCE_BUCKETS,
    frame: e.frame, messageId: e.messageId, expiresAt: toNumber(e.expiresAt) ?? 0,
  };
}

export function outcomeToThrift(outcome: ReportOutcome): gen.ReportResult {
  return new gen.ReportResult({ subscriptions: outcome.subscriptions.map((s) => new gen.SubscriptionOutcome(s)) });
}

export function outcomeFromThrift(result: gen.ReportResult): ReportOutcome {
  return { subscriptions: result.subscriptions.map((s) => ({ ref: s.ref, error: s.error })) };
}
