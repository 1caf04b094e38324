import type { NextFunction, Request, Response } from 'express';
import { PetrelError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';

/**
 * Every error leaves the API as `{"error": {"code", "message", "details"?}}` with the
 * status of its catalog entry (docs/errors.md). Anything not a PetrelError is a bug: it
 * is logged and answered as `internal`, without leaking its message.
 */
export function errorHandler(log: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) {
      // A failure after the answer began: nothing can be said any more. A half-written
      // answer has its connection cut, so the client cannot take it for a whole one.
      log.error({ err }, 'request failed after its answer was sent');
      if (!res.writableEnded) res.destroy();
      return;
    }
    const failure = asPetrelError(err);
    if (failure.code === 'internal') log.error({ err }, 'request failed');
    else if (failure.code === 'storage_unavailable') log.warn({ err: String((failure.cause as Error | undefined)?.message ?? '') }, 'storage unavailable');
    const body: { code: string; message: string; details?: Record<string, unknown> } = { code: failure.code, message: failure.message };
    if (failure.details) body.details = failure.details;
    if (failure.status === 503 || failure.code === 'idempotency_in_progress') res.set('Retry-After', '1');
    res.status(failure.status).json({ error: body });
  };
}

function asPetrelError(err: unknown): PetrelError {
  if (err instanceof PetrelError) return err;
  // body-parser's errors carry a `type`.
  const type = (err as { type?: string } | null)?.type;
  if (type === 'entity.too.large') return new PetrelError('body_too_large');
  if (type === 'entity.parse.failed') return new PetrelError('body_invalid', 'the body is not valid JSON');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new PetrelError('body_invalid', 'unsupported body encoding');
  // The router cannot percent-decode a path parameter (`%zz`): the client's mistake, not ours.
  if (err instanceof URIError) return new PetrelError('query_invalid', 'a path parameter is not valid percent-encoding');
  return new PetrelError('internal', undefined, { cause: err });
}
