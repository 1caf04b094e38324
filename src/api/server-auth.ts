import type { NextFunction, Request, Response } from 'express';
import type { App } from '../domain/app.js';
import { PetrelError } from '../domain/errors.js';
import { storage } from '../store/redis.js';
import type { AppStore } from '../store/app-store.js';
import { LoadingCache } from '../store/loading-cache.js';

/** The authenticated app of a request (set by `serverAuth`). */
export function appOf(res: Response): App {
  return res.locals['app'] as App;
}

/**
 * `Authorization: Bearer <serverSecret>`: the secret alone identifies the app. Lookups
 * are cached for a few seconds (LoadingCache), so authentication costs no Redis round
 * trip per request.
 */
export function serverAuth(apps: AppStore, cacheMs: number) {
  const cache = new LoadingCache<App>((secret) => apps.appOfServerSecret(secret), cacheMs);
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S{16,256})$/i.exec(header);
    if (!match) throw new PetrelError('auth_failed', 'send Authorization: Bearer <serverSecret>');
    const app = await storage(cache.get(match[1]!));
    if (!app) throw new PetrelError('auth_failed', 'unknown server secret, or the app is disabled');
    res.locals['app'] = app;
    next();
  };
}
