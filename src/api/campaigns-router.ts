import { createInterface } from 'node:readline';
import { Router } from 'express';
import { z } from 'zod';
import { ALIAS_LINE_PREFIX, type CampaignAction, type CampaignAudience } from '../domain/campaign.js';
import { PetrelError } from '../domain/errors.js';
import { ID_PATTERN } from '../domain/ids.js';
import { MESSAGE_ID_PATTERN } from '../domain/message.js';
import { TOPIC_PATTERN } from '../domain/topic.js';
import { MAX_CONDITION_LENGTH } from '../domain/topic-condition.js';
import type { CampaignControl } from '../dispatch/campaign-control.js';
import { bindingName, messageData, type MessageSchemaLimits } from './message-schema.js';
import { appOf } from './server-auth.js';
import { validate } from './validate.js';

export function campaignBodySchema(limits: Pick<MessageSchemaLimits, 'maxTtlSec'>) {
  return z.strictObject({
    name: z.string().min(1).max(200),
    audience: z.union([
      z.strictObject({ all: z.literal(true) }).meta({ description: 'Every device of the app.' }),
      z.strictObject({ topic: z.string().regex(TOPIC_PATTERN, 'not a topic name') }),
      z.strictObject({ condition: z.string().min(1).max(MAX_CONDITION_LENGTH) }).meta({ description: 'A topic condition, as in POST /v1/messages.' }),
      z.strictObject({ list: z.literal(true) }).meta({ description: 'An uploaded list of devices and aliases (PUT /v1/campaigns/{id}/audience before starting).' }),
    ], { error: 'exactly one of all, topic, condition or list' }),
    message: z.strictObject({
      data: messageData.optional(),
      notification: z.looseObject({ title: z.string().max(512), body: z.string().max(4096) }).optional(),
      ttl: z.number().int().min(0).max(limits.maxTtlSec).optional().meta({ description: 'Seconds, from when the campaign starts (broadcast audiences) or when each slice of a list is sent.' }),
    }),
    startAt: z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]).optional()
      .meta({ description: 'When the campaign starts once started (epoch ms or RFC 3339); now when absent or past.' }),
    ratePerSecond: z.number().int().min(0).max(10_000_000).optional()
      .meta({ description: 'Deliveries per second across all gateways; 0 or absent: as fast as the service goes.' }),
  });
}

export const campaignParams = z.object({ id: z.string().regex(MESSAGE_ID_PATTERN, 'not a campaign id') });
export const campaignListQuery = z.object({
  before: z.string().regex(MESSAGE_ID_PATTERN, 'not a campaign id').optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export const CAMPAIGN_ACTIONS = ['start', 'pause', 'resume', 'cancel'] as const satisfies readonly CampaignAction[];

/** A line of an uploaded audience: a device id, or alias:<name>. */
function lineProblem(line: string): string | null {
  if (line.startsWith(ALIAS_LINE_PREFIX)) return bindingName.safeParse(line.slice(ALIAS_LINE_PREFIX.length)).success ? null : 'not a valid alias';
  return ID_PATTERN.test(line) ? null : 'neither a device id nor alias:<name>';
}

/**
 * Campaigns (README, "Campaigns"): create, upload a list audience (streamed, never held
 * whole), start / pause / resume / cancel, and watch progress and its time series.
 * Another app's campaign answers exactly like one that does not exist.
 */
export function campaignsRouter(campaigns: CampaignControl, limits: Pick<MessageSchemaLimits, 'maxTtlSec'>): Router {
  const router = Router();
  const bodySchema = campaignBodySchema(limits);
  const idOf = (params: unknown) => {
    const r = campaignParams.safeParse(params);
    if (!r.success) throw new PetrelError('campaign_not_found');
    return r.data.id;
  };

  router.post('/v1/campaigns', async (req, res) => {
    const body = validate(bodySchema, req.body);
    const a = body.audience;
    const audience: CampaignAudience = 'all' in a ? { kind: 'all' } : 'topic' in a ? { kind: 'topic', topic: a.topic } : 'condition' in a ? { kind: 'condition', condition: a.condition } : { kind: 'list' };
    const { data, notification } = (req.body as { message: Record<string, unknown> }).message;
    const message = { ...(data === undefined ? {} : { data }), ...(notification === undefined ? {} : { notification: body.message.notification! }), ...(body.message.ttl === undefined ? {} : { ttl: body.message.ttl }) };
    const startAt = body.startAt === undefined ? undefined : typeof body.startAt === 'number' ? body.startAt : Date.parse(body.startAt);
    const created = await campaigns.create(appOf(res).id, {
      name: body.name, audience, message, ...(startAt === undefined ? {} : { startAt }), ...(body.ratePerSecond === undefined ? {} : { ratePerSecond: body.ratePerSecond }),
    });
    res.status(201).location(`/v1/campaigns/${created.id}`).json(created);
  });

  router.get('/v1/campaigns', async (req, res) => {
    const q = validate(campaignListQuery, req.query, 'query_invalid');
    res.json(await campaigns.list(appOf(res).id, q.before ?? null, q.limit));
  });

  router.get('/v1/campaigns/:id', async (req, res) => {
    res.json(await campaigns.get(appOf(res).id, idOf(req.params)));
  });

  router.get('/v1/campaigns/:id/series', async (req, res) => {
    res.json({ bucketMs: 10_000, points: await campaigns.series(appOf(res).id, idOf(req.params)) });
  });

  router.put('/v1/campaigns/:id/audience', async (req, res) => {
    const id = idOf(req.params);
    if (!req.is('text/plain')) throw new PetrelError('body_invalid', 'send the audience as text/plain, one device id or alias:<name> per line');
    const lines = createInterface({ input: req, crlfDelay: Infinity });
    // The iterator is taken now: readline emits lines as soon as data flows, and lines
    // emitted before anyone iterates (while the campaign is being looked up) would be lost.
    const iterator = lines[Symbol.asyncIterator]();
    try {
      const count = await campaigns.upload(appOf(res).id, id, { [Symbol.asyncIterator]: () => iterator }, lineProblem);
      res.json({ id, audienceSize: count });
    } finally {
      lines.close();
      // A refused upload is not read to its end: the rest of the body is dropped with the connection.
      if (!req.complete) res.setHeader('Connection', 'close');
    }
  });

  for (const action of CAMPAIGN_ACTIONS) {
    router.post(`/v1/campaigns/:id/${action}`, async (req, res) => {
      res.json(await campaigns.act(appOf(res).id, idOf(req.params), action));
    });
  }

  return router;
}
