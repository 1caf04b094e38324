import { z } from 'zod';
import { errorCatalog } from '../domain/errors.js';
import { DeliveryState } from '../domain/message.js';

/**
 * Schemas of what the API answers. The routers build these objects by hand; the schemas
 * are the documentation of them (OpenAPI), and test/api/openapi.test.ts checks real
 * answers against them.
 */

export const errorAnswer = z.object({
  error: z.object({
    code: z.enum(Object.keys(errorCatalog) as [keyof typeof errorCatalog, ...Array<keyof typeof errorCatalog>]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional().meta({ description: 'Field errors (`fields`), unknown ids (`devices`), limits.' }),
  }),
});

export const acceptedAnswer = z.object({
  id: z.string().meta({ description: 'Message id (ULID: sorts by accept time).' }),
  accepted: z.int().meta({ description: 'Distinct targets named.' }),
});

export const cancelledAnswer = z.object({ id: z.string(), state: z.literal('cancelled') });

export const revokedAnswer = z.object({
  id: z.string(),
  state: z.enum(['revoked', 'cancelled']).meta({ description: '`cancelled` when the broadcast was still waiting for its sendAt.' }),
  devicesTold: z.int().meta({ description: 'Connected devices sent a REVOKE now; the others drop it when they reconnect.' }),
});

export const batchAnswer = z.object({
  accepted: z.int(),
  refused: z.int(),
  results: z.array(z.union([acceptedAnswer, errorAnswer])).meta({ description: 'One per item, in order.' }),
});

const deliveryState = z.enum(Object.values(DeliveryState) as [string, ...string[]]);

export const traceAnswer = z.object({
  id: z.string(),
  state: z.enum(['scheduled', 'cancelled', 'accepted', 'dispatched', 'completed', 'expired', 'revoked']),
  acceptedAt: z.int().meta({ description: 'unix ms' }),
  expiresAt: z.int().meta({ description: 'unix ms' }),
  sendAt: z.int().optional().meta({ description: 'Scheduled messages: when due (unix ms).' }),
  counts: z.object({
    targeted: z.int().meta({ description: 'Devices named; for a topic, condition or whole-app send, the audience estimated when it was published (an upper bound for conditions).' }),
    sent: z.int().optional().meta({ description: 'Topic, condition and whole-app sends: PUSHes written to devices, live and on reconnect.' }),
    delivered: z.int().meta({ description: 'Devices that ACKed it, each counted once.' }),
    opened: z.int(), expired: z.int(), dropped: z.int(), failed: z.int(),
  }),
  devices: z.record(z.string(), deliveryState).optional().meta({ description: 'Per-device state, for sends to ≤ 100 devices.' }),
});

export const bindingsAnswer = z.object({
  aliases: z.array(z.string()).optional(),
  accounts: z.array(z.string()).optional(),
});

const serverSecretInfo = z.object({ id: z.string(), createdAt: z.int(), expiresAt: z.int().nullable() });

export const appAnswer = z.object({
  id: z.string(),
  name: z.string(),
  clientKey: z.string().meta({ description: 'Ships in the mobile app; lets the SDK register devices.' }),
  status: z.enum(['active', 'disabled']),
  createdAt: z.int(),
});

export const createdAppAnswer = appAnswer.extend({ serverSecret: serverSecretInfo.extend({ secret: z.string().meta({ description: 'Shown once.' }) }) });
export const appWithSecretsAnswer = appAnswer.extend({ serverSecrets: z.array(serverSecretInfo) });
export const appsAnswer = z.object({ apps: z.array(appAnswer) });
export const secretsAnswer = z.object({ serverSecrets: z.array(serverSecretInfo) });
export const issuedSecretAnswer = serverSecretInfo.extend({ secret: z.string().meta({ description: 'Shown once.' }) });

export const deviceAnswer = z.object({
  id: z.string(),
  status: z.enum(['active', 'invalid']),
  createdAt: z.int(),
  pkg: z.string(),
  online: z.boolean(),
  connectedSince: z.int().optional(),
  aliases: z.array(z.string()),
  accounts: z.array(z.string()),
  topics: z.array(z.string()),
  truncated: z.array(z.enum(['aliases', 'accounts', 'topics'])).optional().meta({ description: 'Lists cut at 100 names.' }),
});

export const deviceTopicsAnswer = z.object({ topics: z.array(z.string()) });
export const topicAnswer = z.object({ topic: z.string(), subscribers: z.int() });
export const topicsAnswer = z.object({ topics: z.array(topicAnswer), next: z.string().nullable().meta({ description: 'Cursor of the next page; null at the end.' }) });
const bulkResults = z.record(z.string(), z.enum(['ok', 'device_not_found', 'topic_limit']));
export const bulkSubscribersAnswer = z.object({ topic: z.string(), subscribe: bulkResults, unsubscribe: bulkResults });

const statsCounts = { accepted: z.int(), delivered: z.int(), opened: z.int(), expired: z.int(), failed: z.int() };
export const statsAnswer = z.object({
  granularity: z.enum(['hour', 'day']),
  buckets: z.array(z.object({ start: z.string().meta({ description: 'RFC 3339, UTC' }), ...statsCounts })),
});

export const campaignAnswer = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled']),
  audience: z.object({ kind: z.enum(['all', 'topic', 'condition', 'list']), topic: z.string().optional(), condition: z.string().optional() }),
  message: z.object({ data: z.unknown().optional(), notification: z.object({ title: z.string(), body: z.string() }).optional(), ttl: z.int().optional() }),
  startAt: z.int().optional(), startedAt: z.int().optional(), finishedAt: z.int().optional(),
  ratePerSecond: z.int(), createdAt: z.int(), audienceSize: z.int().meta({ description: 'Lines uploaded (list audiences).' }),
  messageId: z.string().optional().meta({ description: 'Broadcast audiences: the message (GET /v1/messages/{id}).' }),
  progress: z.object({
    audience: z.int().meta({ description: 'Devices the audience was estimated at (lines, for a list).' }),
    sent: z.int().meta({ description: 'PUSHes written (broadcast audiences) or lines handed to the send path (lists).' }),
    delivered: z.int().meta({ description: 'Devices that ACKed, each once.' }),
    opened: z.int(), failed: z.int(), expired: z.int(),
  }),
});
export const campaignsAnswer = z.object({ campaigns: z.array(campaignAnswer), next: z.string().nullable() });
export const campaignSeriesAnswer = z.object({
  bucketMs: z.int(),
  points: z.array(z.object({ at: z.int().meta({ description: 'Bucket start, unix ms' }), sent: z.int(), delivered: z.int(), opened: z.int() })),
});
export const audienceAnswer = z.object({ id: z.string(), audienceSize: z.int() });

export const receiptSecretAnswer = z.object({ secret: z.string().meta({ description: 'HMAC-SHA256 key of the Petrel-Signature header.' }) });
export const deadLettersAnswer = z.object({
  deadLetters: z.array(z.object({
    delivery: z.string(),
    url: z.string(),
    events: z.array(z.record(z.string(), z.unknown())),
    failedAt: z.int(),
    attempts: z.int(),
    error: z.string(),
    status: z.int().optional(),
  })),
});
export const redrivenAnswer = z.object({ redriven: z.int() });
