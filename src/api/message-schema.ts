import { z } from 'zod';
import { callbackUrlProblem } from '../domain/callback-url.js';
import { ID_PATTERN } from '../domain/ids.js';
import type { SendInput } from '../dispatch/message-intake.js';

export interface MessageSchemaLimits {
  maxDevices: number;
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
    callbackUrl: callbackUrl.optional(),
  });
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
  if (body.callbackUrl !== undefined) input.callbackUrl = body.callbackUrl;
  return input;
}
