/**
 * Batches ACKs for one connection (docs/protocol.md, frame 8: `ids` is batched).
 *
 * Ids are flushed `delayMs` after the first one queued, or at once when `maxBatch` are
 * queued. Every flush first awaits `persist()` — the ledger's flush, which covers the
 * recording of these ids as seen — and only then writes the ACK: a crash can cause a
 * redelivery (deduplicated on restart), never a loss.
 *
 * Ids still queued when the connection ends are dropped: the gateway redelivers
 * unACKed messages after reconnect, and the dedup set turns those into plain ACKs.
 */
export class AckBatcher {
  private queued: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;
  /** Flushes waiting for their save; few at a time, since saves are coalesced. */
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly delayMs: number,
    private readonly maxBatch: number,
    private readonly persist: () => Promise<void>,
    private readonly sendAck: (ids: string[]) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  add(id: string): void {
    if (this.disposed) return;
    this.queued.push(id);
    if (this.queued.length >= this.maxBatch) {
      this.flush().catch(this.onError);
    } else if (this.timer === null) {
      this.timer = setTimeout(this.onTimer, this.delayMs);
    }
  }

  /** Persists, then ACKs, everything queued so far. Rejects if persisting failed. */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queued.length === 0) return Promise.resolve();
    const ids = this.queued;
    this.queued = [];
    // On failure the ids are not ACKed; the gateway redelivers them and the next flush
    // retries the save (the ledger is still dirty).
    const flushing = this.persist().then(() => {
      if (!this.disposed) this.sendAck(ids);
    });
    this.inflight.add(flushing);
    const forget = () => this.inflight.delete(flushing);
    flushing.then(forget, forget);
    return flushing;
  }

  /**
   * For close(): flushes what is queued and waits for earlier flushes still persisting,
   * so every ACK is written before the BYE that follows.
   */
  async drain(): Promise<void> {
    const own = this.flush();
    await Promise.allSettled([...this.inflight]);
    await own;
  }

  /** The connection is gone: drop what is queued, and ACK nothing more. */
  dispose(): void {
    this.disposed = true;
    this.queued = [];
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.flush().catch(this.onError);
  };
}
