/**
 * What the gateway reports about device sessions. The gateway knows sockets and frames;
 * what an ACK or a SUB means for storage belongs to the tiers behind it (dispatch), which
 * supply these hooks. Calls are synchronous notifications except `subscribe`, whose
 * promise decides the SUBACK.
 */
export interface Session {
  readonly deviceId: string;
  readonly appId: string;
  readonly sessionId: string;
  /** The device's number in its app (-1 if unknown). */
  readonly deviceNo: number;
  /** Log cursors the device presented in HELLO (topic / broadcast catch-up). */
  readonly cursors: Readonly<Record<string, number>> | undefined;
  /** Version of the topic set read at HELLO (the fan-out index was built from it). */
  readonly topicsVersion: number;
}

export interface SessionHooks {
  sessionOpened(session: Session): void;
  sessionClosed(session: Session, closeCode: number): void;
  acked(session: Session, ids: readonly string[]): void;
  /**
   * ACKs of PUSHes this gateway fanned out from a broadcast publish, for a session with a
   * device number. Optional: without it they are reported through `acked` like any other.
   */
  broadcastAcked?(session: Session, messageIds: readonly string[]): void;
  opened(session: Session, messageId: string): void;
  /** Resolves when (un)subscribed; rejects with a PetrelError whose code goes into SUBACK `err`. */
  subscribe(session: Session, topics: readonly string[], subscribe: boolean): Promise<void>;
}
