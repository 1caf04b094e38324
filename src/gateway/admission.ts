/**
 * Admission control for new connections: a token bucket refilled at `perSecond`, holding
 * at most one second's worth, checked once per accepted socket. Hand-written rather than
 * a rate-limiting library's: it is one process's budget on the accept path, where a
 * promise per connection or a store round trip would cost more than the check.
 */
export class AdmissionBucket {
  private tokens: number;
  private refilledAt: number;

  /** `perSecond` 0: everything is admitted. `now`: a millisecond clock (performance.now). */
  constructor(
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = perSecond;
    this.refilledAt = now;
  }

  /** True when a connection may be admitted now (and counts it). */
  admit(now: number): boolean {
    if (this.perSecond === 0) return true;
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
