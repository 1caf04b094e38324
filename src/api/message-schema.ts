import { z } from 'zod';
import { callbackUrlProblem } from '../domain/callback-url.js';
import { ID_PATTERN } from '../domain/ids.js';
import type { MessageTarget } from '../domain/message.js';
import { TOPIC_PATTERN } from '../domain/topic.js';
import { MAX_CONDITION_LENGTH } from '../domain/topic-condition.js';
import type { SendInput } from '../dispatch/message-intake.js';

export interface MessageSchemaLimits {
  maxDevices: number;
  /** Messages in one batch request. */
  maxBatch: number;
  maxNames: number;
  maxTtlSec: number;
}

/** Alias and account names: what an app server would use as a user or device key. */
export const bindingName = z.string().min(1).max(128).regex(/^[^\s\x00-\x1f]+$/, 'no whitespace or control characters');

/** Where receipts go (domain/callback-url.ts). */
export const callbackUrl = z.string().check((ctx) => {
  const problem = callbackUrlProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
});

/**
 * A message's `data`: any JSON value. Not `z.json()`: every body is parsed by JSON.parse,
 * so whatever it holds is JSON already, and z.json()'s walk of the value proved nothing
 * at ~1.3 µs per message, about half of validating a batch item (docs/performance.md).
 * The payload's real limits (size, depth, no prototype keys) are the codec's, applied
 * when the PUSH frame is encoded.
 */
export const messageData = z.unknown().meta({ description: 'Any JSON value, delivered to the device as sent (at most 4 KiB once encoded).' });

/**
 * The body of POST /v1/messages. Unknown fields are refused (a misspelt `tll` should not
 * silently send with the default TTL). Built from the config limits.
 */
export function messageBodySchema(limits: MessageSchemaLimits) {
  const to = z.union([
    z.strictObject({ devices: z.array(z.string().regex(ID_PATTERN, 'not a device id')).min(1).max(limits.maxDevices) }),
    z.strictObject({ aliases: z.array(bindingName).min(1).max(limits.maxNames) }),
    z.strictObject({ accounts: z.array(bindingName).min(1).max(limits.maxNames) }),
    z.strictObject({ topic: z.string().regex(TOPIC_PATTERN, 'not a topic name') }).meta({ description: 'Every device subscribed to the topic.' }),
    z.strictObject({ condition: z.string().min(1).max(MAX_CONDITION_LENGTH) })
      .meta({ description: "Devices whose topics satisfy the condition: topics combined with && (or AND), || (OR), ! (NOT) and parentheses, at most 16 topics; FCM's `'news' in topics` form is accepted too." }),
    z.strictObject({ all: z.literal(true) }).meta({ description: 'Every device of the app.' }),
  ], { error: 'exactly one of devices, aliases, accounts, topic, condition or all' });
  return z.strictObject({
    to,
    data: messageData.optional(),
    notification: z.looseObject({ title: z.string().max(512), body: z.string().max(4096) }).optional(),
    ttl: z.number().int().min(0).max(limits.maxTtlSec).optional(),
    collapseId: z.string().min(1).max(64).regex(/^[^\s\x00-\x1f]+$/, 'no whitespace or control characters').optional()
      .meta({ description: 'A newer message with the same collapseId replaces this one on devices that have not received it yet.' }),
    priority: z.enum(['high', 'normal']).optional().meta({ description: '`high`: queued ahead of everything waiting to be dispatched. Default `normal`.' }),
    sendAt: z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]).optional()
      .meta({ description: 'Send later: epoch milliseconds or an RFC 3339 time, up to 7 days ahead. Cancellable with DELETE /v1/messages/{id} until then. The TTL counts from this time.' }),
    callbackUrl: callbackUrl.optional(),
  });
}

/**
 * The envelope of POST /v1/messages/batch. Items are validated one by one afterwards
 * (each gets its own result), so here they only need to be objects.
 */
export function batchBodySchema(limits: MessageSchemaLimits) {
  return z.strictObject({ messages: z.array(z.looseObject({})).min(1).max(limits.maxBatch) });
}

export type MessageBody = z.infer<ReturnType<typeof messageBodySchema>>;

/**
 * A validated body as a send. `payload` is the request's own data and notification, not
 * zod's copies (messages-router.ts says why).
 */
export function toSendInput(body: MessageBody, payload: Pick<MessageBody, 'data' | 'notification'>): SendInput {
  const t = body.to;
  const to: MessageTarget = 'devices' in t ? { kind: 'devices', ids: t.devices }
    : 'aliases' in t ? { kind: 'aliases', ids: t.aliases }
      : 'accounts' in t ? { kind: 'accounts', ids: t.accounts }
        : 'topic' in t ? { kind: 'topic', topic: t.topic }
          : 'condition' in t ? { kind: 'condition', condition: t.condition }
            : { kind: 'all' };
  const input: SendInput = { to };
  if (payload.data !== undefined) input.data = payload.data;
  if (payload.notification !== undefined) input.notification = payload.notification;
  if (body.ttl !== undefined) input.ttl = body.ttl;
  if (body.collapseId !== undefined) input.collapseId = body.collapseId;
  if (body.priority !== undefined) input.priority = body.priority;
  if (body.sendAt !== undefined) input.sendAt = typeof body.sendAt === 'number' ? body.sendAt : Date.parse(body.sendAt);
  if (body.callbackUrl !== undefined) input.callbackUrl = body.callbackUrl;
  return input;
}
