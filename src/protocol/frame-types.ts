/**
 * Frame type numbers of device wire protocol v1 (docs/protocol.md). These numbers are
 * product contract: never renumber. New frame types must use numbers >= 32.
 */
export const FrameType = {
  REGISTER: 1,
  REGISTERED: 2,
  HELLO: 3,
  WELCOME: 4,
  PING: 5,
  PONG: 6,
  PUSH: 7,
  ACK: 8,
  SUB: 9,
  UNSUB: 10,
  SUBACK: 11,
  OPENED: 12,
  RESYNC: 13,
  BYE: 14,
  ERROR: 15,
  // Petrel additions (docs/protocol.md, "Additions"): SDKs that do not know them ignore them.
  /** S→C `log`, `seq`: the device has everything of the log up to `seq` that was meant for it. */
  CURSOR: 32,
  /** S→C `id`: a broadcast was revoked; drop it if not shown yet, and never show it later. */
  REVOKE: 33,
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const names = new Map<number, string>(Object.entries(FrameType).map(([name, t]) => [t, name]));

/** Human/metric label for a frame type number; unknown numbers get "unknown". */
export function frameTypeName(t: number): string {
  return names.get(t) ?? 'unknown';
}
