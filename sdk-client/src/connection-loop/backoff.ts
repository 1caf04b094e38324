export interface BackoffConfig {
  /** First ceiling, ms (default 1 s). */
  readonly baseMs: number;
  /** Largest ceiling, ms (default 5 min). */
  readonly capMs: number;
}

export const defaultBackoff: BackoffConfig = Object.freeze({ baseMs: 1_000, capMs: 300_000 });

/**
 * Reconnect delays: exponential with FULL jitter, delay = random(0, min(cap, base * 2^attempt)).
 * Full jitter (rather than "base + small jitter") spreads a fleet that lost the same gateway
 * over the whole window, so a restart does not come back as a synchronized stampede
 * (AWS Architecture Blog, "Exponential Backoff And Jitter"; docs/protocol.md, close codes).
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly config: BackoffConfig = defaultBackoff,
    private readonly random: () => number = Math.random,
  ) {}

  /** Exponent of the current ceiling: failed attempts since the last reset, up to the cap. */
  get attempts(): number {
    return this.attempt;
  }

  /** The current ceiling: the largest delay next() can return. */
  get ceilingMs(): number {
    return Math.min(this.config.capMs, this.config.baseMs * 2 ** this.attempt);
  }

  /** Delay before the next attempt, then advances the exponent. */
  next(): number {
    const ceiling = this.ceilingMs;
    // Stop growing once the cap is reached so 2^attempt never overflows to Infinity.
    if (ceiling < this.config.capMs) this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** Called once a connection proved healthy: the next failure starts from base again. */
  reset(): void {
    this.attempt = 0;
  }
}
