import type { z } from 'zod';
import { PetrelError } from '../domain/errors.js';

/**
 * Parses a request part with a schema; a mismatch is a 400 listing every field error:
 * `body_invalid` for a body, `query_invalid` for a query string.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, part: 'body' | 'query' = 'body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || `(${part})`, message: issue.message }));
  throw new PetrelError(part === 'body' ? 'body_invalid' : 'query_invalid', undefined, { details: { fields } });
}
