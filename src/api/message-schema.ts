import { z } from 'zod';
import { callbackUrlProblem } from '../domain/callback-url.js';
import { ID_PATTERN } from '../domain/ids.js';
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
 * The body of POST /v1/messages. Unknown fields are refused (a misspelt `tll` should not
 * silently send with the default TTL). Built from the config limits.
 */
export function messageBodySchema(limits: MessageSchemaLimits) {
  const to = z.union([
    z.strictObject({ devices: z.array(z.string().regex(ID_PATTERN, 'not a device id')).min(1).max(limits.maxDevices) }),
    z.strictObject({ aliases: z.array(bindingName).min(1).max(limits.maxNames) }),
    z.strictObject({ accounts: z.array(bindingName).min(1).max(limits.maxNames) }),
  ], { error: 'exactly one of devices, aliases or accounts' });
  return z.strictObject({
    to,
    data: z.json().optional(),
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

export function toSendInput(body: MessageBody): SendInput {
  const to = 'devices' in body.to
    ? { kind: 'devices' as const, ids: body.to.devices }
    : 'aliases' in body.to
      ? { kind: 'aliases' as const, ids: body.to.aliases }
      : { kind: 'accounts' as const, ids: body.to.accounts };
  const input: SendInput = { to };
  if (body.data !== undefined) input.data = body.data;
  if (body.notification !== undefined) input.notification = body.notification;
  if (body.ttl !== undefined) input.ttl = body.ttl;
  if (body.collapseId !== undefined) input.collapseId = body.collapseId;
  if (body.priority !== undefined) input.priority = body.priority;
  if (body.sendAt !== undefined) input.sendAt = typeof body.sendAt === 'number' ? body.sendAt : Date.parse(body.sendAt);
  if (body.callbackUrl !== undefined) input.callbackUrl = body.callbackUrl;
  return input;
}
