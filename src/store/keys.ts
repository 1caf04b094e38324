/**
 * Every Redis key Petrel writes, built in one place. `{…}` hash tags put all keys of one
 * device (or one app) in the same Redis Cluster slot, so multi-key scripts stay legal
 * when the deployment moves from one node to a cluster.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /**
   * String with a TTL: JSON record of one Idempotency-Key of an app (by the key's SHA-256):
   * the request's fingerprint and, once accepted, the answer given.
   */
  idempotency(appId: string, keyHash: string): string {
    return `${this.prefix}idem:{${appId}}:${keyHash}`;
  }

  /** Rate limiter keys of one app (rate-limiter-flexible adds the app id). */
  rateLimitPrefix(): string {
    return `${this.prefix}rl`;
  }

  /**
   * Hash: name, clientKey, status, createdAt, and two device counters: deviceSeq (the last
   * device number issued: broadcast ACKs are counted in bitmaps by it) and devices (active
   * devices, the whole-app audience estimate).
   */
  app(appId: string): string {
    return `${this.prefix}app:{${appId}}`;
  }

  /** Hash: server secret id → JSON {hash, createdAt, expiresAt} (never the secret). */
  appSecrets(appId: string): string {
    return `${this.prefix}app-secrets:{${appId}}`;
  }

  /** Set of all app ids (admin listing). */
  apps(): string {
    return `${this.prefix}apps`;
  }

  /** Hash: app, gen, status, pkg, createdAt, no (number within the app). Never the secret (domain/device-secret.ts). */
  device(deviceId: string): string {
    return `${this.prefix}dev:{${deviceId}}`;
  }

  /** String with a TTL: a HELLO nonce seen recently for this device (replay cache). */
  helloNonce(deviceId: string, nonce: string): string {
    return `${this.prefix}nonce:{${deviceId}}:${nonce}`;
  }

  /** Set: topics one device subscribed to. */
  deviceTopics(deviceId: string): string {
    return `${this.prefix}dev-topics:{${deviceId}}`;
  }

  /** Set: device ids subscribed to one topic of one app. */
  topicSubscribers(appId: string, topic: string): string {
    return `${this.prefix}topic:{${appId}}:${topic}`;
  }

  /**
   * Sorted set, all scores 0 (ordered by name): the topics of an app that have at least
   * one subscriber, for paginated listings. Same {app} slot as the subscriber sets.
   */
  appTopics(appId: string): string {
    return `${this.prefix}app-topics:{${appId}}`;
  }

  /**
   * Hash: one accepted message. app, to (JSON target), ts, exp, frame (the encoded PUSH),
   * cb (callbackUrl, when given), fanout (set by the first dispatch), state, and counters
   * targeted / delivered / opened / dropped / failed. Expires after the message's own
   * expiry plus the trace retention.
   */
  message(messageId: string): string {
    return `${this.prefix}msg:{${messageId}}`;
  }

  /**
   * Hash: the immediate unicast messages accepted within 32 ms of message ids (the
   * bucket, intake-entry.ts) that no dispatcher has fanned out yet, one packed field per
   * message id. An entry becomes the message hash at fan-out and leaves; the hash, empty,
   * goes with it. Expires with the latest expiry plus trace retention of its messages.
   */
  intake(bucket: string): string {
    return `${this.prefix}intake:{${bucket}}`;
  }

  /**
   * Bitmap by device number: devices that ACKed a broadcast (counted once each, 125 KB per
   * million devices). Expires with the message.
   */
  messageAcked(messageId: string): string {
    return `${this.prefix}msg-acked:{${messageId}}`;
  }

  /**
   * Hash: an app's broadcast log: seq (the last sequence number issued) and trimmed (the
   * highest sequence number dropped by the retention cap; a cursor below it gets RESYNC).
   */
  appLog(appId: string): string {
    return `${this.prefix}log:{${appId}}`;
  }

  /**
   * Set: broadcasts of the app whose audience is still being released (paced campaigns).
   * Catch-up looks at them whatever a device's cursor says: a device that moved past one
   * before its bucket was released must still get it.
   */
  appLogPaced(appId: string): string {
    return `${this.prefix}log-paced:{${appId}}`;
  }

  /**
   * Sorted set: broadcasts of the app a device's cursor may have passed without the device
   * getting them. Send jobs run side by side and a publish that timed out is retried
   * seconds later, so a device can get seq n+1 before seq n reaches its gateway and move
   * its cursor past n. Scored by the highest cursor the entry can matter to: +inf while
   * it is being published; once published, if a device may have passed it (a gateway got
   * it late, PublishResult.late, or catch-up moved a device past it), the head seq then.
   * Catch-up checks an entry against the device's ACKs when the cursor is at most that.
   * An entry published in order everywhere, revoked, or whose message expired leaves; so
   * does one whose score falls below `trimmed` (every device it matters to gets RESYNC).
   */
  appLogUnsettled(appId: string): string {
    return `${this.prefix}log-unsettled:{${appId}}`;
  }

  /** Sorted set: broadcasts appended and not revoked, by message expiry (unix ms); expired ones leave the unsettled sets. */
  appLogUnsettledExpiry(appId: string): string {
    return `${this.prefix}log-unsettled-exp:{${appId}}`;
  }

  /** Set: unsettled entries still being published that a device may already have passed (log_settle_1 keeps them). */
  appLogOvertaken(appId: string): string {
    return `${this.prefix}log-overtaken:{${appId}}`;
  }

  /**
   * Hash: one campaign of an app: app, name, state, audience and message (JSON), startAt,
   * rate, createdAt, startedAt, finishedAt, messageId, released (audience buckets, broadcast
   * audiences) or offset (lines sent, list audiences), audienceSize, sent.
   */
  campaign(appId: string, campaignId: string): string {
    return `${this.prefix}campaign:{${appId}}:${campaignId}`;
  }

  /** String with a TTL: the runner (BullMQ job id) stepping a campaign now; one at a time. */
  campaignLease(appId: string, campaignId: string): string {
    return `${this.prefix}campaign-lease:{${appId}}:${campaignId}`;
  }

  /** Sorted set: an app's campaigns by creation time. */
  campaigns(appId: string): string {
    return `${this.prefix}campaigns:{${appId}}`;
  }

  /** List: an uploaded campaign audience, one device id or `alias:<name>` per entry. */
  campaignAudience(appId: string, campaignId: string): string {
    return `${this.prefix}campaign-audience:{${appId}}:${campaignId}`;
  }

  /** List: message ids of a list campaign's chunks (their counters make its progress). */
  campaignMessages(appId: string, campaignId: string): string {
    return `${this.prefix}campaign-msgs:{${appId}}:${campaignId}`;
  }

  /** Hash: a campaign's time series, `<bucket start ms>:<sent|delivered|opened>` → count. */
  campaignSeries(appId: string, campaignId: string): string {
    return `${this.prefix}campaign-series:{${appId}}:${campaignId}`;
  }

  /** Sorted set: the retained entries of an app's broadcast log, message id scored by seq. */
  appLogEntries(appId: string): string {
    return `${this.prefix}log-entries:{${appId}}`;
  }

  /** Hash: device id → DeliveryState, kept only for small sends (tracing). */
  messageDevices(messageId: string): string {
    return `${this.prefix}msg-dev:{${messageId}}`;
  }

  /** Set: devices that reported OPENED for a message (counted once each). */
  messageOpened(messageId: string): string {
    return `${this.prefix}msg-opened:{${messageId}}`;
  }

  /** Sorted set, all scores 0: message ids pending for a device, ordered by id (= accept time). */
  inbox(deviceId: string): string {
    return `${this.prefix}inbox:{${deviceId}}`;
  }

  /** Hash: collapse id → the id of the message holding it in the device's inbox. */
  inboxCollapse(deviceId: string): string {
    return `${this.prefix}inbox-collapse:{${deviceId}}`;
  }

  /** String: set when the inbox overflowed; the next session gets RESYNC inbox_overflow. */
  inboxOverflow(deviceId: string): string {
    return `${this.prefix}inbox-overflow:{${deviceId}}`;
  }

  /** String "gatewayId sessionId": where the device is connected now. */
  route(deviceId: string): string {
    return `${this.prefix}route:{${deviceId}}`;
  }

  /** String: the device an alias of an app is bound to (one device per alias). */
  alias(appId: string, alias: string): string {
    return `${this.prefix}alias:{${appId}}:${alias}`;
  }

  /** Sorted set: devices bound to a user account of an app, scored by bind time. */
  account(appId: string, account: string): string {
    return `${this.prefix}account:{${appId}}:${account}`;
  }

  /** Set: aliases bound to a device. */
  deviceAliases(deviceId: string): string {
    return `${this.prefix}dev-aliases:{${deviceId}}`;
  }

  /** Set: accounts a device is bound to. */
  deviceAccounts(deviceId: string): string {
    return `${this.prefix}dev-accounts:{${deviceId}}`;
  }

  /**
   * String: app id of a server secret, by the secret's SHA-256 (bearer token lookup).
   * Expires when a rotation retires the secret.
   */
  serverSecret(secretHash: string): string {
    return `${this.prefix}server-secret:${secretHash}`;
  }

  /** Hash with a TTL: one live gateway or dispatcher process (address, load). */
  node(kind: 'gateway' | 'dispatcher', id: string): string {
    return `${this.prefix}node:${kind}:${id}`;
  }

  /** Sorted set: ids of gateways or dispatchers, scored by when their registration lapses. */
  nodes(kind: 'gateway' | 'dispatcher'): string {
    return `${this.prefix}nodes:${kind}`;
  }

  /**
   * Hash with a TTL: one app's authenticated sessions per gateway process (field: the
   * process's session counter id, value: count), for the per-app session limit.
   */
  appSessions(appId: string): string {
    return `${this.prefix}app-sessions:{${appId}}`;
  }

  /**
   * Sorted set: session counter ids of gateway processes, scored by when their published
   * counts lapse (unix ms); a count whose counter is not here is ignored.
   */
  sessionCounters(): string {
    return `${this.prefix}session-counters`;
  }

  /** Sorted set: devices to retry delivery to, scored by due time (unix ms). */
  redeliverySchedule(): string {
    return `${this.prefix}redeliver`;
  }

  /** Hash: device → when delivery to its gateway first failed (unix ms). */
  redeliverySince(): string {
    return `${this.prefix}redeliver-since`;
  }

  /**
   * Hash: one app's counters (accepted, delivered, opened, expired, failed) for the UTC
   * hour or day starting at `startMs`; expires after the retention of its granularity.
   */
  appStats(appId: string, granularity: 'hour' | 'day', startMs: number): string {
    return `${this.prefix}stats:{${appId}}:${granularity}:${startMs}`;
  }

  /** List, newest first, capped, with a TTL: receipt batches of an app that ran out of attempts (JSON). */
  receiptDeadLetters(appId: string): string {
    return `${this.prefix}receipt-dead:{${appId}}`;
  }

  /** Sorted set: traced messages whose undelivered devices are to be marked expired, scored by when (unix ms). */
  expirySchedule(): string {
    return `${this.prefix}expiring`;
  }

  /**
   * Sorted set: ids of stored messages whose send job may not exist yet, scored by accept
   * time (the outbox). Entries leave once the job is queued; the dispatcher re-queues the
   * ones left behind by a failed queue write or a crash (send-outbox.ts).
   */
  sendOutbox(): string {
    return `${this.prefix}send-outbox`;
  }

  /**
   * BullMQ key prefix. BullMQ builds `<prefix>:<queue>:<type>` without hash tags, so on a
   * Redis Cluster this prefix must be given a `{…}` tag (not done yet: single-node Redis).
   */
  queuePrefix(): string {
    return `${this.prefix}bull`;
  }
}
