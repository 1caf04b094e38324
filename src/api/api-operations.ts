import { z } from 'zod';
import { acceptedAnswer, appAnswer, bulkSubscribersAnswer, deadLettersAnswer, receiptSecretAnswer, redrivenAnswer, statsAnswer, campaignAnswer, campaignsAnswer, campaignSeriesAnswer, audienceAnswer, cancelledAnswer, revokedAnswer, deviceAnswer, deviceTopicsAnswer, topicAnswer, topicsAnswer, appsAnswer, appWithSecretsAnswer, batchAnswer, bindingsAnswer, createdAppAnswer, issuedSecretAnswer, secretsAnswer, traceAnswer } from './answers.js';
import { appParams, createAppBody, issueSecretBody, secretParams, updateAppBody } from './app-schema.js';
import { bindingParams } from './bindings-router.js';
import { CAMPAIGN_ACTIONS, campaignBodySchema, campaignListQuery, campaignParams } from './campaigns-router.js';
import { deviceParam } from './devices-router.js';
import { limitQuery } from './receipts-router.js';
import { statsQueryFields } from './stats-router.js';
import { bulkSubscribersBody, topicListQuery } from './topics-router.js';
import { batchBodySchema, messageBodySchema, type MessageSchemaLimits } from './message-schema.js';
import type { Operation } from './openapi.js';

const idempotencyHeader = {
  name: 'Idempotency-Key',
  description: 'Your id for this send (1-255 printable characters). The same key and body within 24 h answers the first answer again and sends nothing; another body → 409.',
};
const messageParams = z.object({ id: z.string().meta({ description: 'Message id' }) });
const deviceParams = bindingParams.pick({ deviceId: true, kind: true });
const topicParams = z.object({ topic: z.string().meta({ description: 'Topic name: 1-128 of letters, digits and _ - . ~ %' }) });
const deviceTopicParams = deviceParam.extend(topicParams.shape);

/** Every endpoint of the HTTP API, with the schemas its router validates with. */
export function apiOperations(limits: MessageSchemaLimits): Operation[] {
  const actions: Record<(typeof CAMPAIGN_ACTIONS)[number], string> = {
    start: 'draft → scheduled (runs at startAt, or now); a list campaign needs its audience uploaded.',
    pause: 'scheduled or running → paused: no more deliveries within a second.',
    resume: 'paused → running (or scheduled, if it never started): carries on where it stopped.',
    cancel: 'Any state before completed → cancelled: nothing more is sent.',
  };
  return [
    {
      method: 'post', path: '/v1/campaigns', tag: 'campaigns', auth: 'server', summary: 'Create a campaign (draft)',
      body: campaignBodySchema(limits), responses: { 201: { description: 'Created, in draft.', body: campaignAnswer } },
    },
    {
      method: 'get', path: '/v1/campaigns', tag: 'campaigns', auth: 'server', summary: 'List campaigns, newest first', query: campaignListQuery,
      responses: { 200: { description: 'A page; pass `next` as `before` for the following one.', body: campaignsAnswer } },
    },
    {
      method: 'get', path: '/v1/campaigns/{id}', tag: 'campaigns', auth: 'server', summary: 'A campaign and its progress', params: campaignParams,
      responses: { 200: { description: 'The campaign.', body: campaignAnswer } },
    },
    {
      method: 'get', path: '/v1/campaigns/{id}/series', tag: 'campaigns', auth: 'server', summary: 'Progress over time, per 10 s', params: campaignParams,
      responses: { 200: { description: 'Points, oldest first.', body: campaignSeriesAnswer } },
    },
    {
      method: 'put', path: '/v1/campaigns/{id}/audience', tag: 'campaigns', auth: 'server', summary: 'Upload a list audience', params: campaignParams,
      description: 'text/plain, one device id or `alias:<name>` per line, up to 1,000,000 lines, streamed. Replaces an earlier upload; draft only.',
      body: z.string(), bodyType: 'text/plain', responses: { 200: { description: 'Stored.', body: audienceAnswer } },
    },
    ...CAMPAIGN_ACTIONS.map((action): Operation => ({
      method: 'post', path: `/v1/campaigns/{id}/${action}`, tag: 'campaigns', auth: 'server', summary: `${action[0]!.toUpperCase()}${action.slice(1)} a campaign`,
      params: campaignParams, description: actions[action], responses: { 200: { description: 'The campaign after the change.', body: campaignAnswer } },
    })),
    {
      method: 'post', path: '/v1/messages', tag: 'messages', auth: 'server', summary: 'Send a message',
      description: 'Answers 202 once the message is stored in Redis, with the send-outbox entry that guarantees its dispatch.',
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
      method: 'post', path: '/v1/messages/{id}/revoke', tag: 'messages', auth: 'server', summary: 'Revoke a topic, condition or whole-app message', params: messageParams,
      description: 'Devices that have not received it never will; connected ones get a REVOKE (the SDK drops the message if it has not reached the app, else emits `revoked` so the app can withdraw a shown notification). Unicast messages answer 409 message_not_broadcast.',
      responses: { 200: { description: 'Revoked (also when it already was).', body: revokedAnswer } },
    },
    {
      method: 'get', path: '/v1/devices/{deviceId}', tag: 'devices', auth: 'server', summary: 'Device info and presence', params: deviceParam,
      responses: { 200: { description: 'The device, whether it is connected, its names and topics.', body: deviceAnswer } },
    },
    {
      method: 'post', path: '/v1/devices/{deviceId}/invalidate', tag: 'devices', auth: 'server', summary: 'Invalidate a device', params: deviceParam,
      description: 'Its credentials stop working (a connected session is closed with 4001), its names, topics and pending messages go.',
      responses: { 204: { description: 'Invalidated (also when it already was).' } },
    },
    {
      method: 'get', path: '/v1/devices/{deviceId}/topics', tag: 'devices', auth: 'server', summary: 'Topics of a device', params: deviceParam,
      responses: { 200: { description: 'Topic names.', body: deviceTopicsAnswer } },
    },
    {
      method: 'put', path: '/v1/devices/{deviceId}/topics/{topic}', tag: 'devices', auth: 'server', summary: 'Subscribe a device to a topic', params: deviceTopicParams,
      responses: { 204: { description: 'Subscribed.' } },
    },
    {
      method: 'delete', path: '/v1/devices/{deviceId}/topics/{topic}', tag: 'devices', auth: 'server', summary: 'Unsubscribe a device from a topic', params: deviceTopicParams,
      responses: { 204: { description: 'Unsubscribed.' } },
    },
    {
      method: 'get', path: '/v1/topics', tag: 'topics', auth: 'server', summary: 'Topics of the app with subscriber counts', query: topicListQuery,
      responses: { 200: { description: 'A page of topics by name.', body: topicsAnswer } },
    },
    {
      method: 'get', path: '/v1/topics/{topic}', tag: 'topics', auth: 'server', summary: 'Subscriber count of a topic', params: topicParams,
      responses: { 200: { description: 'Zero for a topic nobody subscribed to.', body: topicAnswer } },
    },
    {
      method: 'post', path: '/v1/topics/{topic}/subscribers', tag: 'topics', auth: 'server', summary: 'Subscribe and unsubscribe many devices', params: topicParams, body: bulkSubscribersBody,
      responses: { 200: { description: 'A result per device id.', body: bulkSubscribersAnswer } },
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
      method: 'get', path: '/v1/stats', tag: 'statistics', auth: 'server', summary: 'Counters by UTC hour or day', query: statsQueryFields,
      description: 'accepted, delivered, opened, expired and failed (invalid targets) per bucket; at most 744 hourly or 400 daily buckets.',
      responses: { 200: { description: 'One bucket per hour or day, zeros included.', body: statsAnswer } },
    },
    {
      method: 'get', path: '/v1/receipts/secret', tag: 'receipts', auth: 'server', summary: 'The key receipts are signed with',
      responses: { 200: { description: 'Created on first use.', body: receiptSecretAnswer } },
    },
    {
      method: 'get', path: '/v1/receipts/dead-letters', tag: 'receipts', auth: 'server', summary: 'Receipt batches that ran out of attempts', query: limitQuery,
      responses: { 200: { description: 'Newest first.', body: deadLettersAnswer } },
    },
    {
      method: 'post', path: '/v1/receipts/dead-letters/redrive', tag: 'receipts', auth: 'server', summary: 'Queue dead letters again', query: limitQuery,
      responses: { 202: { description: 'The oldest `limit` dead letters are queued again under their delivery ids.', body: redrivenAnswer } },
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
      method: 'post', path: '/v1/admin/apps/{appId}/secrets', tag: 'admin', auth: 'admin', summary: 'Issue a server secret (rotation)', params: appParams, body: issueSecretBody, bodyOptional: true,
      responses: { 201: { description: 'The new secret, shown once.', body: issuedSecretAnswer } },
    },
    {
      method: 'delete', path: '/v1/admin/apps/{appId}/secrets/{secretId}', tag: 'admin', auth: 'admin', summary: 'Revoke a server secret', params: secretParams,
      responses: { 204: { description: 'Revoked.' } },
    },
  ];
}
