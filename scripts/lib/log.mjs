// Progress and failure reporting for the launcher. Messages go to stderr so that a
// command's own stdout (the service's logs, the test reporter) stays clean.

/** Prints one progress line: `petrel: <message>`. */
export function say(message) {
  process.stderr.write(`petrel: ${message}\n`);
}

/**
 * A failure the user can act on: printed as one `petrel:` line, without a stack trace,
 * and the launcher exits with `exitCode`.
 */
export class PetrelError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.name = 'PetrelError';
    this.exitCode = exitCode;
  }
}

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Shell convention for "ended by a signal": 128 + the signal number. */
export function signalExitCode(signal) {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 1);
}

/** The launcher was asked to stop (Ctrl-C, SIGTERM) before the step finished. */
export class Interrupted extends PetrelError {
  constructor(signal) {
    super(`stopped by ${signal}`, signalExitCode(signal));
    this.name = 'Interrupted';
    this.signal = signal;
  }
}
