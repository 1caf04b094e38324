import type { NextFunction, Request, Response } from 'express';
import { PetrelError } from '../domain/errors.js';
import { hashSecret, sameCredential } from '../store/app-store.js';

/**
 * `Authorization: Bearer <admin token>` for the operator's admin API (apps and their
 * credentials). The token comes from config; compared through hashes in constant time so
 * neither its length nor its bytes leak through timing.
 */
export function adminAuth(token: string) {
  const expected = hashSecret(token);
  return (req: Request, _res: Response, next: NextFunction): void => {
    const match = /^Bearer\s+(\S{1,512})$/i.exec(req.headers.authorization ?? '');
    if (!match || !sameCredential(hashSecret(match[1]!), expected)) {
      throw new PetrelError('auth_failed', 'send Authorization: Bearer <admin token>');
    }
    next();
  };
}
