import { z } from 'zod';
import { acceptedAnswer, appAnswer, cancelledAnswer, appsAnswer, appWithSecretsAnswer, batchAnswer, bindingsAnswer, createdAppAnswer, issuedSecretAnswer, secretsAnswer, traceAnswer } from './answers.js';
import { appParams, createAppBody, issueSecretBody, secretParams, updateAppBody } from './app-schema.js';
import { bindingParams } from './bindings-router.js';
import { batchBodySchema, messageBodySchema, type MessageSchemaLimits } from './message-schema.js';
import type { Operation } from './openapi.js';

const idempotencyHeader = {
  name: 'Idempotency-Key',
  description: 'Your id for this send (1-255 printable characters). The same key and body within 24 h answers the first answer again and sends nothing; another body → 409.',
};
const messageParams = z.object({ id: z.string().meta({ description: 'Message id' }) });
const deviceParams = bindingParams.pick({ deviceId: true, kind: true });

/** Every endpoint of the HTTP API, with the schemas its router validates with. */
export function apiOperations(limits: MessageSchemaLimits): Operation[] {
  return [
    {
      method: 'post', path: '/v1/messages', tag: 'messages', auth: 'server', summary: 'Send a message',
      description: 'Answers 202 once the message and its send job are durable in Redis.',
      body: messageBodySchema(limits), headers: [idempotencyHeader],
      responses: { 202: { description: 'Accepted (durable).', body: acceptedAnswer } },
    },
    {
      method: 'post', path: '/v1/messages/batch', tag: 'messages', auth: 'server', summary: 'Send many messages, a result each',
      description: `Up to ${limits.maxBatch} message bodies; each is validated on its own and refused alone. The accepted ones are stored in one transaction.`,
      body: batchBodySchema(limits), headers: [idempotencyHeader],
      responses: { 202: { description: 'Processed; see each result.', body: batchAnswer } },
    },
    {
      method: 'get', path: '/v1/messages/{id}', tag: 'messages', auth: 'server', summary: 'Trace a message', params: messageParams,
      responses: { 200: { description: 'Counts, and per-device states for small sends.', body: traceAnswer } },
    },
    {
      method: 'delete', path: '/v1/messages/{id}', tag: 'messages', auth: 'server', summary: 'Cancel a scheduled message', params: messageParams,
      description: 'Only before its sendAt; afterwards 409 message_not_cancellable.',
      responses: { 200: { description: 'Cancelled (also when it already was).', body: cancelledAnswer } },
    },
    {
      method: 'put', path: '/v1/devices/{deviceId}/{kind}/{name}', tag: 'devices', auth: 'server', summary: 'Bind an alias or account to a device',
      params: bindingParams.required(), responses: { 204: { description: 'Bound.' } },
    },
    {
      method: 'delete', path: '/v1/devices/{deviceId}/{kind}/{name}', tag: 'devices', auth: 'server', summary: 'Unbind an alias or account',
      params: bindingParams.required(), responses: { 204: { description: 'Unbound.' } },
    },
    {
      method: 'get', path: '/v1/devices/{deviceId}/{kind}', tag: 'devices', auth: 'server', summary: 'Names bound to a device',
      params: deviceParams, responses: { 200: { description: 'The aliases or accounts.', body: bindingsAnswer } },
    },
    {
      method: 'post', path: '/v1/admin/apps', tag: 'admin', auth: 'admin', summary: 'Create an app', body: createAppBody,
      responses: { 201: { description: 'The app with its client key and first server secret.', body: createdAppAnswer } },
    },
    { method: 'get', path: '/v1/admin/apps', tag: 'admin', auth: 'admin', summary: 'List apps', responses: { 200: { description: 'Oldest first.', body: appsAnswer } } },
    {
      method: 'get', path: '/v1/admin/apps/{appId}', tag: 'admin', auth: 'admin', summary: 'An app and its server secrets', params: appParams,
      responses: { 200: { description: 'Secrets by id and dates only.', body: appWithSecretsAnswer } },
    },
    {
      method: 'patch', path: '/v1/admin/apps/{appId}', tag: 'admin', auth: 'admin', summary: 'Rename, disable or enable an app', params: appParams, body: updateAppBody,
      responses: { 200: { description: 'The app.', body: appAnswer } },
    },
    {
      method: 'get', path: '/v1/admin/apps/{appId}/secrets', tag: 'admin', auth: 'admin', summary: 'Live server secrets', params: appParams,
      responses: { 200: { description: 'Ids and dates.', body: secretsAnswer } },
    },
    {
      method: 'post', path: '/v1/admin/apps/{appId}/secrets', tag: 'admin', auth: 'admin', summary: 'Issue a server secret (rotation)', params: appParams, body: issueSecretBody,
      responses: { 201: { description: 'The new secret, shown once.', body: issuedSecretAnswer } },
    },
    {
      method: 'delete', path: '/v1/admin/apps/{appId}/secrets/{secretId}', tag: 'admin', auth: 'admin', summary: 'Revoke a server secret', params: secretParams,
      responses: { 204: { description: 'Revoked.' } },
    },
  ];
}
