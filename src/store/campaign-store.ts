import type { Redis } from 'ioredis';
import type { Campaign, CampaignAudience, CampaignMessage, CampaignState } from '../domain/campaign.js';
import type { RedisKeys } from './keys.js';
import { pipelineReplies } from './redis.js';

/**
 * campaign_transition_1 — KEYS[1] campaign hash; ARGV[1] app, ARGV[2] new state, ARGV[3]
 * now, ARGV[4..] the states it may move from. Returns 'ok', 'not_found' (no such campaign
 * in this app), or the current state when the move is not allowed from it. Every state
 * change goes through here, so a pause racing the runner's completion has one winner.
 */
const CAMPAIGN_TRANSITION_1 = `
local h = redis.call('HMGET', KEYS[1], 'app', 'state')
if h[1] ~= ARGV[1] then return 'not_found' end
for i = 4, #ARGV do
  if h[2] == ARGV[i] then
    redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updatedAt', ARGV[3])
    return 'ok'
  end
end
return h[2]
`;

export interface CampaignPage {
  campaigns: Campaign[];
  next: string | null;
}

/** Where a running campaign stands (what the runner resumes from). */
export interface CampaignProgress {
  /** Audience buckets released (broadcast audiences). */
  released: number;
  /** Lines of the uploaded list sent (list audiences). */
  offset: number;
  /** Chunks stored (list audiences). */
  chunks: number;
}

export type SeriesField = 'sent' | 'delivered' | 'opened';

/** Campaigns of an app in Redis, their uploaded audiences and time series. */
export class CampaignStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async create(c: Campaign): Promise<void> {
    await this.redis.multi()
      .hset(this.keys.campaign(c.appId, c.id), {
        app: c.appId, name: c.name, state: c.state, audience: JSON.stringify(c.audience), message: JSON.stringify(c.message),
        rate: c.ratePerSecond, createdAt: c.createdAt, audienceSize: 0, ...(c.startAt === undefined ? {} : { startAt: c.startAt }),
      })
      .zadd(this.keys.campaigns(c.appId), c.createdAt, c.id)
      .exec();
  }

  /** The campaign of this app, or null (also for another app's). */
  async get(appId: string, id: string): Promise<Campaign | null> {
    return campaignOf(id, appId, await this.redis.hgetall(this.keys.campaign(appId, id)));
  }

  /** Newest first, `limit` at a time before the campaign `before`. */
  async list(appId: string, before: string | null, limit: number): Promise<CampaignPage> {
    const max = before === null ? '+inf' : `(${(await this.redis.zscore(this.keys.campaigns(appId), before)) ?? '+inf'}`;
    const ids = await this.redis.zrevrangebyscore(this.keys.campaigns(appId), max, '-inf', 'LIMIT', 0, limit + 1);
    const page = ids.slice(0, limit);
    const pipeline = this.redis.pipeline();
    for (const id of page) pipeline.hgetall(this.keys.campaign(appId, id));
    const rows = await pipelineReplies(pipeline, page.length);
    const campaigns = page.map((id, i) => campaignOf(id, appId, rows[i] as Record<string, string>)).filter((c): c is Campaign => c !== null);
    return { campaigns, next: ids.length > limit ? (page.at(-1) ?? null) : null };
  }

  /**
   * Moves a campaign from one of `from` to `to`. Once it is completed or cancelled its
   * uploaded list is not needed again (its size stays on the campaign): it is unlinked,
   * rather than left in Redis for good (24 MB per million lines).
   */
  async transition(appId: string, id: string, to: CampaignState, from: readonly CampaignState[], now = Date.now()): Promise<'ok' | 'not_found' | CampaignState> {
    const outcome = (await this.redis.eval(CAMPAIGN_TRANSITION_1, 1, this.keys.campaign(appId, id), appId, to, now, ...from)) as 'ok' | 'not_found' | CampaignState;
    if (outcome === 'ok' && (to === 'completed' || to === 'cancelled')) await this.redis.unlink(this.keys.campaignAudience(appId, id));
    return outcome;
  }

  /** Fields the runner sets once (startedAt, messageId, finishedAt). */
  async mark(appId: string, id: string, fields: Partial<Record<'startedAt' | 'messageId' | 'finishedAt', string | number>>): Promise<void> {
    await this.redis.hset(this.keys.campaign(appId, id), fields);
  }

  async progress(appId: string, id: string): Promise<CampaignProgress> {
    const [released, offset, chunks] = await this.redis.hmget(this.keys.campaign(appId, id), 'released', 'offset', 'chunks');
    return { released: Number(released ?? 0), offset: Number(offset ?? 0), chunks: Number(chunks ?? 0) };
  }

  /**
   * Records a step of the runner in one transaction: where it got to, what it sent, the
   * chunk messages it stored. A runner that dies before this repeats the step.
   */
  async advance(appId: string, id: string, step: { released?: number; offset?: number; chunkIds?: string[]; sent: number; at: number; bucketMs: number }): Promise<void> {
    const key = this.keys.campaign(appId, id);
    const multi = this.redis.multi();
    if (step.released !== undefined) multi.hset(key, 'released', step.released);
    if (step.offset !== undefined) multi.hset(key, 'offset', step.offset);
    if (step.chunkIds && step.chunkIds.length > 0) {
      multi.rpush(this.keys.campaignMessages(appId, id), ...step.chunkIds).hincrby(key, 'chunks', 1);
    }
    if (step.sent > 0) {
      multi.hincrby(key, 'sent', step.sent);
      multi.hincrby(this.keys.campaignSeries(appId, id), `${step.at - (step.at % step.bucketMs)}:sent`, step.sent);
    }
    await multi.exec();
  }

  async sent(appId: string, id: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.campaign(appId, id), 'sent')) ?? 0);
  }

  /** Message ids of a list campaign's chunks. */
  async chunkMessages(appId: string, id: string): Promise<string[]> {
    return this.redis.lrange(this.keys.campaignMessages(appId, id), 0, -1);
  }

  /**
   * Replaces the uploaded audience with the lines of `lines`, written as they arrive in
   * pipelined chunks to a staging list that takes the audience's place only when the whole
   * upload was good: a failed upload leaves the previous one. Returns the count, or the
   * refusal from `check` (the first bad line) or `tooMany` past `max` lines.
   */
  async replaceAudience(appId: string, id: string, lines: AsyncIterable<string>, max: number, check: (line: string, n: number) => string | null): Promise<{ count: number } | { error: string; line: number }> {
    const staging = `${this.keys.campaignAudience(appId, id)}:upload:${Date.now()}`;
    let count = 0;
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const values = batch;
      batch = [];
      await this.redis.rpush(staging, ...values);
    };
    try {
      for await (const raw of lines) {
        const line = raw.trim();
        if (line === '') continue;
        count++;
        if (count > max) return { error: `more than ${max} lines`, line: count };
        const problem = check(line, count);
        if (problem) return { error: problem, line: count };
        batch.push(line);
        if (batch.length >= 1000) await flush();
      }
      await flush();
      const multi = this.redis.multi();
      if (count > 0) multi.rename(staging, this.keys.campaignAudience(appId, id));
      else multi.del(this.keys.campaignAudience(appId, id));
      await multi.hset(this.keys.campaign(appId, id), 'audienceSize', count).exec();
      return { count };
    } finally {
      await this.redis.del(staging);
    }
  }

  async audienceSlice(appId: string, id: string, offset: number, n: number): Promise<string[]> {
    return this.redis.lrange(this.keys.campaignAudience(appId, id), offset, offset + n - 1);
  }

  /** Adds counts to campaigns' series (the stats consumer's batch), one pipeline. */
  async addSeries(points: ReadonlyArray<{ appId: string; campaignId: string; bucket: number; field: SeriesField; n: number }>): Promise<void> {
    if (points.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const p of points) pipeline.hincrby(this.keys.campaignSeries(p.appId, p.campaignId), `${p.bucket}:${p.field}`, p.n);
    await pipeline.exec();
  }

  async series(appId: string, id: string): Promise<Array<{ at: number } & Record<SeriesField, number>>> {
    const raw = await this.redis.hgetall(this.keys.campaignSeries(appId, id));
    const points = new Map<number, { at: number } & Record<SeriesField, number>>();
    for (const [k, v] of Object.entries(raw)) {
      const [at, field] = k.split(':') as [string, SeriesField];
      const p = points.get(Number(at)) ?? { at: Number(at), sent: 0, delivered: 0, opened: 0 };
      p[field] = Number(v);
      points.set(p.at, p);
    }
    return [...points.values()].sort((a, b) => a.at - b.at);
  }
}

function campaignOf(id: string, appId: string, h: Record<string, string>): Campaign | null {
  if (h['app'] !== appId || !h['state']) return null;
  const c: Campaign = {
    id, appId, name: h['name'] ?? '', state: h['state'] as CampaignState,
    audience: JSON.parse(h['audience'] ?? '{"kind":"all"}') as CampaignAudience,
    message: JSON.parse(h['message'] ?? '{}') as CampaignMessage,
    ratePerSecond: Number(h['rate'] ?? 0), createdAt: Number(h['createdAt'] ?? 0), audienceSize: Number(h['audienceSize'] ?? 0),
  };
  if (h['startAt']) c.startAt = Number(h['startAt']);
  if (h['startedAt']) c.startedAt = Number(h['startedAt']);
  if (h['finishedAt']) c.finishedAt = Number(h['finishedAt']);
  if (h['messageId']) c.messageId = h['messageId'];
  return c;
}
