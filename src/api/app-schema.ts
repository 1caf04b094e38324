import { z } from 'zod';
import { ID_PATTERN } from '../domain/ids.js';

/** Request schemas of the admin API (apps and their server secrets). */

const MAX_OVERLAP_SEC = 30 * 86_400;

export const appName = z.string().trim().min(1).max(200);

export const createAppBody = z.strictObject({ name: appName });

export const updateAppBody = z.strictObject({
  name: appName.optional(),
  status: z.enum(['active', 'disabled']).optional(),
  /** Concurrent device sessions of the app (0: unlimited); null: the gateways' `limits.sessionsPerApp`. */
  maxSessions: z.number().int().min(0).max(1_000_000_000).nullable().optional(),
});

export const issueSecretBody = z.strictObject({
  /**
   * Rotation: every other secret of the app stops working this many seconds from now
   * (0: at once). Absent: they stay valid until revoked.
   */
  retireOthersAfterSec: z.number().int().min(0).max(MAX_OVERLAP_SEC).optional(),
});

export const appParams = z.object({ appId: z.string().regex(ID_PATTERN, 'not an app id') });

export const secretParams = appParams.extend({ secretId: z.string().regex(/^sk_[0-9a-f]{12}$/, 'not a secret id') });
