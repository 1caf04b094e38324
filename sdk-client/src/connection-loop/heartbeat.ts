/** What a Heartbeat reports to; DeviceSession implements it. */
export interface HeartbeatOwner {
  /** Time to send a PING. */
  onPingDue(): void;
  /** The deadline passed: WELCOME never came (before start()), or the link went silent. */
  onDeadline(): void;
}

/**
 * The one timer of a connection (docs/protocol.md, "Liveness").
 *
 * Until start() it is the connect deadline (startDeadline): WELCOME must arrive within it,
 * and inbound frames do not extend it. From start() it is the heartbeat: send PING every
 * granted `hb`, and treat a link with no inbound frame for `deadAfterMs` as dead.
 *
 * One Node timer serves all of that, armed for whichever comes first. Inbound frames only
 * store a timestamp (touch), they never re-arm it, so a busy connection costs no timer
 * churn; and start() keeps the connect deadline's timer when it fires no later than the
 * first heartbeat duty (the usual case: a 15 s deadline, a 30 s+ heartbeat), merely
 * re-arming when it fires. That matters when a benchmark process holds ~19,000 clients
 * and connects them as fast as it can.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  /** When `timer` fires (Date.now() scale). */
  private timerDueAt = 0;
  private live = false;
  private intervalMs = 0;
  private deadAfterMs = 0;
  private lastInboundAt = 0;
  private nextPingAt = Number.POSITIVE_INFINITY;

  constructor(private readonly owner: HeartbeatOwner) {}

  /** Before authentication: onDeadline() after `ms`, unless start() or stop() comes first. */
  startDeadline(ms: number): void {
    const now = Date.now();
    this.live = false;
    this.lastInboundAt = now;
    this.deadAfterMs = ms;
    this.nextPingAt = Number.POSITIVE_INFINITY;
    this.arm(now);
  }

  /** Authenticated: PING every `intervalMs`; onDeadline() after `deadAfterMs` of silence. */
  start(intervalMs: number, deadAfterMs: number): void {
    const now = Date.now();
    this.live = true;
    this.intervalMs = intervalMs;
    this.deadAfterMs = deadAfterMs;
    this.lastInboundAt = now;
    this.nextPingAt = now + intervalMs;
    this.arm(now);
  }

  /** Any inbound frame proves an authenticated link alive (no effect before start()). */
  touch(): void {
    if (this.live) this.lastInboundAt = Date.now();
  }

  stop(): void {
    this.live = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Timer callback; static so that a connection needs no closure of its own for it. */
  private static fire(heartbeat: Heartbeat): void {
    heartbeat.timer = null;
    heartbeat.tick();
  }

  private tick(): void {
    const now = Date.now();
    if (now - this.lastInboundAt >= this.deadAfterMs) {
      this.stop();
      this.owner.onDeadline();
      return;
    }
    if (now >= this.nextPingAt) {
      this.nextPingAt = now + this.intervalMs;
      this.owner.onPingDue();
      // The PING may have ended the link (a listener, a write error): stop() cleared us.
      if (!this.live) return;
    }
    this.arm(now);
  }

  private arm(now: number): void {
    const due = Math.min(this.nextPingAt, this.lastInboundAt + this.deadAfterMs);
    if (this.timer !== null) {
      // Firing early is harmless (tick re-arms for what is left); firing late is not.
      if (this.timerDueAt <= due) return;
      clearTimeout(this.timer);
    }
    this.timerDueAt = due;
    this.timer = setTimeout(Heartbeat.fire, Math.max(0, due - now), this);
    // The socket keeps the process alive while connected; this timer must not on its own.
    this.timer.unref();
  }
}
