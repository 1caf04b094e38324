import type { Logger } from '../observability/logger.js';

/**
 * Runs `poll` every `intervalMs`, never two at once (a slow pass skips ticks instead of
 * piling up), logging failures as `what failed`. Unref'd: it never keeps a process alive.
 */
export class PollLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly what: string,
    private readonly intervalMs: number,
    private readonly poll: () => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.poll().then(
        () => undefined,
        (err: unknown) => this.log.warn({ err: (err as Error).message }, `${this.what} failed`),
      ).finally(() => (this.running = null));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
