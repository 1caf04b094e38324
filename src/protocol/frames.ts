import { FrameType } from './frame-types.js';
import { ProtocolError } from './protocol-error.js';

/** A decoded body: a map whose `t` is a positive integer. Fields are not yet checked. */
export interface RawFrame {
  readonly t: number;
  readonly [field: string]: unknown;
}

export interface RegisterFrame { t: typeof FrameType.REGISTER; app: string; key: string; pkg?: string }
export interface RegisteredFrame { t: typeof FrameType.REGISTERED; dev: string; secret: string }
export interface HelloFrame {
  t: typeof FrameType.HELLO;
  v: number;
  app: string;
  dev: string;
  ts: number;
  nonce: string;
  sig: string;
  hb?: number;
  /** log name -> highest seq the device has seen (topic / broadcast catch-up). */
  cur?: Record<string, number>;
  sdk?: string;
}
export interface WelcomeFrame { t: typeof FrameType.WELCOME; hb: number; sid: string; now: number }
export interface PingFrame { t: typeof FrameType.PING }
export interface PongFrame { t: typeof FrameType.PONG }
export interface NotificationFields { title?: string; body?: string; [extra: string]: unknown }
export interface PushFrame {
  t: typeof FrameType.PUSH;
  id: string;
  ts: number;
  exp: number;
  data?: unknown;
  n?: NotificationFields;
  log?: string;
  seq?: number;
  cid?: string;
}
export interface AckFrame { t: typeof FrameType.ACK; ids: string[] }
export interface SubFrame { t: typeof FrameType.SUB; rid: number | string; topics: string[] }
export interface UnsubFrame { t: typeof FrameType.UNSUB; rid: number | string; topics: string[] }
export interface SubackFrame { t: typeof FrameType.SUBACK; rid: number | string; ok: boolean; err?: string }
export interface OpenedFrame { t: typeof FrameType.OPENED; id: string }
export type ResyncReason = 'inbox_overflow' | 'cursor_gone';
export interface ResyncFrame { t: typeof FrameType.RESYNC; reason: ResyncReason }
export interface ByeFrame { t: typeof FrameType.BYE; code: number; reason?: string; retry?: number }
export interface ErrorFrame { t: typeof FrameType.ERROR; rid?: number | string; code: string; msg: string }
export interface CursorFrame { t: typeof FrameType.CURSOR; log: string; seq: number }
export interface RevokeFrame { t: typeof FrameType.REVOKE; id: string }

/** Frames a device sends (BYE goes both ways). */
export type ClientFrame = RegisterFrame | HelloFrame | PingFrame | AckFrame | SubFrame | UnsubFrame | OpenedFrame | ByeFrame;
/** Frames the server sends. */
export type ServerFrame = RegisteredFrame | WelcomeFrame | PongFrame | PushFrame | SubackFrame | ResyncFrame | ByeFrame | ErrorFrame | CursorFrame | RevokeFrame;
export type Frame = ClientFrame | ServerFrame;

/**
 * Field checks for frames from devices. Unknown keys are ignored (docs/protocol.md); a
 * missing or mistyped known field closes with 4003 like any other malformed frame.
 * Every check bounds lengths so a valid-looking frame cannot smuggle in huge strings.
 */
export function parseClientFrame(raw: RawFrame): ClientFrame {
  switch (raw.t) {
    case FrameType.REGISTER:
      return {
        t: FrameType.REGISTER,
        app: str(raw, 'app', 128),
        key: str(raw, 'key', 256),
        ...(raw['pkg'] !== undefined && raw['pkg'] !== null ? { pkg: str(raw, 'pkg', 256) } : {}),
      };
    case FrameType.HELLO: {
      const hello: HelloFrame = {
        t: FrameType.HELLO,
        v: int(raw, 'v'),
        app: str(raw, 'app', 128),
        dev: str(raw, 'dev', 128),
        ts: int(raw, 'ts'),
        nonce: str(raw, 'nonce', 128),
        sig: str(raw, 'sig', 128),
      };
      if (raw['hb'] !== undefined && raw['hb'] !== null) hello.hb = int(raw, 'hb');
      if (raw['cur'] !== undefined && raw['cur'] !== null) hello.cur = cursors(raw['cur']);
      if (raw['sdk'] !== undefined && raw['sdk'] !== null) hello.sdk = str(raw, 'sdk', 64);
      return hello;
    }
    case FrameType.PING:
      return { t: FrameType.PING };
    case FrameType.ACK:
      return { t: FrameType.ACK, ids: strArray(raw, 'ids', 128) };
    case FrameType.SUB:
    case FrameType.UNSUB:
      return { t: raw.t, rid: requestId(raw), topics: strArray(raw, 'topics', 256) };
    case FrameType.OPENED:
      return { t: FrameType.OPENED, id: str(raw, 'id', 128) };
    case FrameType.BYE:
      return bye(raw);
    default:
      throw new ProtocolError('frame_type_unknown', `frame type ${raw.t} is not accepted from devices`);
  }
}

/**
 * Field checks for frames from the server, as the SDK applies them. Unknown frame types
 * return null: the SDK ignores them for forward compatibility (docs/protocol.md).
 */
export function parseServerFrame(raw: RawFrame): ServerFrame | null {
  switch (raw.t) {
    case FrameType.REGISTERED:
      return { t: FrameType.REGISTERED, dev: str(raw, 'dev', 128), secret: str(raw, 'secret', 256) };
    case FrameType.WELCOME:
      return { t: FrameType.WELCOME, hb: int(raw, 'hb'), sid: str(raw, 'sid', 128), now: int(raw, 'now') };
    case FrameType.PONG:
      return { t: FrameType.PONG };
    case FrameType.PUSH: {
      const push: PushFrame = {
        t: FrameType.PUSH,
        id: str(raw, 'id', 128),
        ts: int(raw, 'ts'),
        exp: int(raw, 'exp'),
      };
      if (raw['data'] !== undefined) push.data = raw['data'];
      if (raw['n'] !== undefined && raw['n'] !== null) push.n = notification(raw['n']);
      if (raw['log'] !== undefined && raw['log'] !== null) {
        push.log = str(raw, 'log', 256);
        push.seq = int(raw, 'seq');
      }
      if (raw['cid'] !== undefined && raw['cid'] !== null) push.cid = str(raw, 'cid', 128);
      return push;
    }
    case FrameType.SUBACK: {
      const ack: SubackFrame = { t: FrameType.SUBACK, rid: requestId(raw), ok: bool(raw, 'ok') };
      if (typeof raw['err'] === 'string') ack.err = raw['err'];
      return ack;
    }
    case FrameType.RESYNC: {
      const reason = raw['reason'];
      if (reason !== 'inbox_overflow' && reason !== 'cursor_gone') throw invalid('reason');
      return { t: FrameType.RESYNC, reason };
    }
    case FrameType.BYE:
      return bye(raw);
    case FrameType.CURSOR:
      return { t: FrameType.CURSOR, log: str(raw, 'log', 256), seq: int(raw, 'seq') };
    case FrameType.REVOKE:
      return { t: FrameType.REVOKE, id: str(raw, 'id', 128) };
    case FrameType.ERROR: {
      const err: ErrorFrame = { t: FrameType.ERROR, code: str(raw, 'code', 128), msg: str(raw, 'msg', 1024) };
      if (raw['rid'] !== undefined && raw['rid'] !== null) err.rid = requestId(raw);
      return err;
    }
    default:
      return null;
  }
}

function bye(raw: RawFrame): ByeFrame {
  const frame: ByeFrame = { t: FrameType.BYE, code: int(raw, 'code') };
  if (typeof raw['reason'] === 'string') frame.reason = raw['reason'].slice(0, 256);
  if (raw['retry'] !== undefined && raw['retry'] !== null) frame.retry = int(raw, 'retry');
  return frame;
}

function invalid(field: string): ProtocolError {
  return new ProtocolError('frame_field_invalid', `field "${field}" is missing or has the wrong type`);
}

function str(raw: RawFrame, field: string, maxLength: number): string {
  const v = raw[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) throw invalid(field);
  return v;
}

function int(raw: RawFrame, field: string): number {
  const v = raw[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(field);
  return v;
}

function bool(raw: RawFrame, field: string): boolean {
  const v = raw[field];
  if (typeof v !== 'boolean') throw invalid(field);
  return v;
}

function requestId(raw: RawFrame): number | string {
  const v = raw['rid'];
  if ((typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && v.length > 0 && v.length <= 64)) return v;
  throw invalid('rid');
}

function strArray(raw: RawFrame, field: string, maxItemLength: number): string[] {
  const v = raw[field];
  if (!Array.isArray(v)) throw invalid(field);
  for (const item of v) {
    if (typeof item !== 'string' || item.length === 0 || item.length > maxItemLength) throw invalid(field);
  }
  return v as string[];
}

function cursors(v: unknown): Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('cur');
  const out: Record<string, number> = {};
  for (const [log, seq] of Object.entries(v)) {
    if (log.length > 256 || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw invalid('cur');
    out[log] = seq;
  }
  return out;
}

function notification(v: unknown): NotificationFields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('n');
  const n = v as NotificationFields;
  if (n.title !== undefined && typeof n.title !== 'string') throw invalid('n.title');
  if (n.body !== undefined && typeof n.body !== 'string') throw invalid('n.body');
  return n;
}
