import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino blanks before a log line is written. Device secrets, server secrets, HELLO
 * signatures, client keys and bearer tokens must never reach a log sink.
 */
export const redactedPaths = [
  'secret', '*.secret', 'serverSecret', '*.serverSecret', 'deviceKey', '*.deviceKey',
  'sig', '*.sig', 'key', '*.key', 'clientKey', '*.clientKey',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
];

export function createLogger(options: { level: string; name?: string }, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      ...(options.name ? { name: options.name } : {}),
      redact: { paths: redactedPaths, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination,
  );
}
