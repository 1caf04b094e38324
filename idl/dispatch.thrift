// DispatchService: served by every dispatcher process, called by gateways (reports) and
// by tools (internal send).
include "common.thrift"

namespace js petrel.rpc

enum SessionEventKind {
  ONLINE = 1
  OFFLINE = 2
}

/** A device session started or ended on the reporting gateway. */
struct SessionEvent {
  1: required SessionEventKind kind
  2: required string device
  3: required string app
  4: required string session
  /** OFFLINE: the BYE code the session ended with. */
  5: optional i32 closeCode
  /** ONLINE: log cursors the device presented in HELLO (log name → last seq seen). */
  6: optional map<string, i64> cursors
  /** ONLINE: the device's number within its app (broadcast catch-up checks its ACKs by it). */
  7: optional i32 deviceNo
  /**
   * ONLINE: the version of the device's topic set that the gateway's fan-out index was built
   * from at HELLO. When the app server changed the topics since, the dispatcher sends the
   * gateway the whole set (GatewayService.setTopics).
   */
  8: optional i64 topicsVersion
}

/** ACKs of one device since the last report. */
struct AckReport {
  1: required string device
  2: required string app
  3: required list<string> ids
  /** The device's number within its app (counts broadcast ACKs once per device in a bitmap); absent if unknown. */
  4: optional i32 deviceNo
}

/**
 * ACKs of one broadcast from many devices, by device number: what a fan-out brings back
 * in bulk, four bytes per device instead of an AckReport each, counted in one script call.
 */
struct BroadcastAcks {
  1: required string app
  2: required string messageId
  3: required list<i32> deviceNos
}

/** The user opened a notification. */
struct OpenedReport {
  1: required string device
  2: required string app
  3: required string messageId
}

/** A SUB or UNSUB frame; its outcome comes back in ReportResult under the same `ref`. */
struct SubscriptionChange {
  1: required i32 ref
  2: required string device
  3: required string app
  4: required list<string> topics
  5: required bool subscribe
}

/** Everything one gateway saw in a few milliseconds: one call instead of one per frame. */
struct ReportBatch {
  1: required string gateway
  2: required list<SessionEvent> sessions
  3: required list<AckReport> acks
  4: required list<OpenedReport> opened
  5: required list<SubscriptionChange> subscriptions
  /** ACKs of PUSHes this gateway fanned out from a broadcast publish; other ACKs are in `acks`. */
  6: optional list<BroadcastAcks> broadcastAcks
}

struct SubscriptionOutcome {
  1: required i32 ref
  /** Empty on success, else a stable error code (SUBACK `err`). */
  2: required string error
}

struct ReportResult {
  1: required list<SubscriptionOutcome> subscriptions
}

struct Notification {
  1: required string title
  2: required string body
}

/** Internal send (operators' tools, tests): the same path as POST /v1/messages. */
struct SendRequest {
  1: required string app
  2: optional list<string> devices
  3: optional list<string> aliases
  4: optional list<string> accounts
  /** JSON text of the payload. */
  5: optional string dataJson
  6: optional Notification notification
  7: optional i32 ttl
  /** Where delivery receipts of the message are POSTed (http or https, at most 2048 characters). */
  8: optional string callbackUrl
  /** Broadcasts (read diffusion): every device subscribed to this topic… */
  9: optional string topic
  /** …or whose topics satisfy this condition (as in POST /v1/messages)… */
  10: optional string condition
  /** …or every device of the app. Exactly one target of fields 2–4 and 9–11 is named. */
  11: optional bool all
}

struct SendResult {
  1: required string id
  2: required i32 accepted
}

service DispatchService {
  ReportResult report(1: ReportBatch batch) throws (1: common.RpcError err)
  SendResult send(1: SendRequest request) throws (1: common.RpcError err)
}
