/**
 * Liveness of one authenticated connection (docs/protocol.md, "Liveness"): send PING every
 * granted `hb`, and treat a link with no inbound frame for `deadAfterMs` as dead.
 *
 * One timer per connection serves both duties: it is armed for whichever comes first, the
 * next PING or the dead-link deadline. Inbound frames only store a timestamp (touch), they
 * never re-arm the timer, so a busy connection costs no timer churn. That matters when a
 * benchmark process holds ~19,000 clients.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private lastInboundAt = 0;
  private nextPingAt = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly deadAfterMs: number,
    private readonly ping: () => void,
    private readonly onDead: () => void,
  ) {}

  start(): void {
    const now = Date.now();
    this.lastInboundAt = now;
    this.nextPingAt = now + this.intervalMs;
    this.arm(now);
  }

  /** Any inbound frame proves the link alive. */
  touch(): void {
    this.lastInboundAt = Date.now();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly tick = (): void => {
    this.timer = null;
    const now = Date.now();
    if (now - this.lastInboundAt >= this.deadAfterMs) {
      this.onDead();
      return;
    }
    if (now >= this.nextPingAt) {
      this.ping();
      this.nextPingAt = now + this.intervalMs;
    }
    this.arm(now);
  };

  private arm(now: number): void {
    const due = Math.min(this.nextPingAt, this.lastInboundAt + this.deadAfterMs);
    this.timer = setTimeout(this.tick, Math.max(0, due - now));
    // The socket keeps the process alive while connected; this timer must not on its own.
    this.timer.unref();
  }
}
