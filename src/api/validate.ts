import type { z } from 'zod';
import { PetrelError } from '../domain/errors.js';

/** Parses a request part with a schema; a mismatch is a 400 listing every field error. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(body)', message: issue.message }));
  throw new PetrelError('body_invalid', undefined, { details: { fields } });
}
