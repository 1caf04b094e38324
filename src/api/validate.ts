import type { z } from 'zod';
import { PetrelError } from '../domain/errors.js';

/**
 * Parses a request part with a schema; a mismatch is a 400 listing every field error:
 * `body_invalid` for the body, `query_invalid` for path parameters and the query string.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, code: 'body_invalid' | 'query_invalid' = 'body_invalid'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || (code === 'body_invalid' ? '(body)' : '(query)'), message: issue.message }));
  throw new PetrelError(code, undefined, { details: { fields } });
}
