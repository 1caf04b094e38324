import { Router, type Request } from 'express';
import type { App } from '../domain/app.js';
import { PetrelError } from '../domain/errors.js';
import type { AppStore } from '../store/app-store.js';
import { storage } from '../store/redis.js';
import { appParams, createAppBody, issueSecretBody, secretParams, updateAppBody } from './app-schema.js';
import { validate } from './validate.js';

/**
 * The operator's admin API: apps (tenants) and their server secrets, under
 * /v1/admin/apps. Mounted behind adminAuth. The CLI (`petrel apps …`) does the same
 * through the same AppStore.
 */
export function appsRouter(apps: AppStore): Router {
  const router = Router();

  async function existing(req: Request): Promise<App> {
    const { appId } = validate(appParams, req.params, 'query_invalid');
    const app = await storage(apps.get(appId));
    if (!app) throw new PetrelError('app_not_found');
    return app;
  }

  router.post('/apps', async (req, res) => {
    const { name } = validate(createAppBody, req.body);
    const created = await storage(apps.create(name));
    res.status(201).location(`/v1/admin/apps/${created.app.id}`).json({
      ...created.app,
      serverSecret: { id: created.secretId, secret: created.serverSecret, createdAt: created.app.createdAt, expiresAt: null },
    });
  });

  router.get('/apps', async (_req, res) => {
    res.json({ apps: await storage(apps.list()) });
  });

  router.get('/apps/:appId', async (req, res) => {
    const app = await existing(req);
    res.json({ ...app, serverSecrets: await storage(apps.serverSecrets(app.id)) });
  });

  router.patch('/apps/:appId', async (req, res) => {
    const { appId } = validate(appParams, req.params, 'query_invalid');
    const updated = await storage(apps.update(appId, validate(updateAppBody, req.body)));
    if (!updated) throw new PetrelError('app_not_found');
    res.json(updated);
  });

  router.get('/apps/:appId/secrets', async (req, res) => {
    const app = await existing(req);
    res.json({ serverSecrets: await storage(apps.serverSecrets(app.id)) });
  });

  router.post('/apps/:appId/secrets', async (req, res) => {
    const { appId } = validate(appParams, req.params, 'query_invalid');
    const { retireOthersAfterSec } = validate(issueSecretBody, req.body ?? {});
    const issued = await storage(apps.issueServerSecret(appId, retireOthersAfterSec === undefined ? {} : { retireOthersAfterMs: retireOthersAfterSec * 1000 }));
    if (!issued) throw new PetrelError('app_not_found');
    res.status(201).json(issued);
  });

  router.delete('/apps/:appId/secrets/:secretId', async (req, res) => {
    const { appId, secretId } = validate(secretParams, req.params, 'query_invalid');
    if (!(await storage(apps.revokeServerSecret(appId, secretId)))) throw new PetrelError('secret_not_found');
    res.status(204).end();
  });

  return router;
}
