// GatewayService: served by every gateway process, called by dispatchers.
include "common.thrift"

namespace js petrel.rpc

/**
 * One frame for one device. `frame` is a complete wire frame (length prefix included),
 * encoded once by the dispatcher with the shared codec; the gateway writes it as is.
 */
struct Delivery {
  1: required string device
  /** Deliver only while this session is the device's current one (empty: any session). */
  2: optional string session
  3: required binary frame
  /** Set for PUSH frames: the gateway re-sends until this id is ACKed or expires. */
  4: optional string messageId
  /** Expiry of the message (unix ms): no re-send after it. */
  5: optional i64 expiresAt
}

struct DeliverResult {
  /** Devices of the batch with no matching session on this gateway (left in their inbox). */
  1: required list<string> notConnected
}

/** One entry of an app's broadcast log, fanned out locally to matching sessions. */
struct LogEntry {
  1: required string app
  2: required string log
  3: required i64 seq
  /** The PUSH frame carrying `log` and `seq`, encoded once by the dispatcher. */
  4: required binary frame
  5: required string messageId
  6: required i64 expiresAt
  /** Topic condition a session's topics must satisfy (domain/topic-condition.ts); empty: every session of the app. */
  7: optional string filter
  /** Only sessions whose audience bucket (domain/audience.ts) is in [fromBucket, toBucket): paced campaigns release buckets over time. Absent: all. */
  8: optional i32 fromBucket
  9: optional i32 toBucket
}

struct PublishResult {
  1: required i32 sent
  /**
   * This gateway had already fanned out a later seq of the app's log: a device here may
   * have moved its cursor past this entry before it arrived, so catch-up keeps checking
   * the entry against devices' ACKs whatever their cursors (docs/architecture.md).
   */
  2: optional bool late
}

struct GatewayStats {
  1: required string id
  2: required i32 connections
  3: required i32 sessions
  4: required bool draining
}

service GatewayService {
  DeliverResult deliver(1: list<Delivery> batch) throws (1: common.RpcError err)
  PublishResult publish(1: LogEntry entry) throws (1: common.RpcError err)
  /** Closes the device's session with `code` if it is `session` (empty: whatever session). */
  bool kick(1: string device, 2: string session, 3: i32 code, 4: string reason) throws (1: common.RpcError err)
  /** The app server changed a device's topics: the session here (if any) follows, for fan-out. */
  bool changeTopics(1: string device, 2: list<string> topics, 3: bool subscribe) throws (1: common.RpcError err)
  /**
   * The device's whole topic set, replacing what its session here was indexed with: sent when
   * the app server changed the topics between the device's HELLO and its ONLINE report.
   */
  bool setTopics(1: string device, 2: list<string> topics) throws (1: common.RpcError err)
  /**
   * A broadcast was revoked: its PUSH is no longer re-sent, and sessions of the app that match
   * `filter` get `frame` (a REVOKE) so an SDK that has not shown it drops it. Returns sessions told.
   */
  i32 revoke(1: string app, 2: string messageId, 3: binary frame, 4: string filter) throws (1: common.RpcError err)
  void drain() throws (1: common.RpcError err)
  GatewayStats stats() throws (1: common.RpcError err)
}
