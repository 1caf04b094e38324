import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { AUDIENCE_BUCKETS } from '../domain/audience.js';
import { ALIAS_LINE_PREFIX, chunkMessageId, LIST_CHUNK, type Campaign } from '../domain/campaign.js';
import { isBroadcast } from '../domain/message.js';
import type { Logger } from '../observability/logger.js';
import type { BroadcastLog } from '../store/broadcast-log.js';
import type { CampaignStore } from '../store/campaign-store.js';
import type { RedisKeys } from '../store/keys.js';
import type { MessageStore, NewMessage } from '../store/message-store.js';
import type { Broadcast, Broadcaster } from './broadcaster.js';
import type { MessageIntake } from './message-intake.js';

export const CAMPAIGN_QUEUE = 'campaign';

export interface CampaignJob {
  appId: string;
  campaignId: string;
}

/** How often a running campaign releases the next slice and looks at its state: pause takes effect within this. */
export const CAMPAIGN_STEP_MS = 250;
/** Series bucket width (GET …/series). */
export const SERIES_BUCKET_MS = 10_000;
/** A runner holds its campaign this long between steps; one that died is replaced after it. */
const LEASE_MS = 5000;
/**
 * An unpaced list campaign (ratePerSecond 0) steps as soon as the dispatchers keep up: at
 * most this many of its chunk messages wait to be fanned out. Ahead of them it would only
 * fill the send queue, in front of every other message of every app; a fixed step period
 * would cap it at LIST_CHUNK lines per step (4,000 lines/s).
 */
const MAX_CHUNKS_AHEAD = 8;

export function createCampaignQueue(connection: Redis, keys: RedisKeys): Queue<CampaignJob> {
  return new Queue<CampaignJob>(CAMPAIGN_QUEUE, {
    connection,
    prefix: keys.queuePrefix(),
    skipWaitingForReady: true,
    defaultJobOptions: { attempts: 1000, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: true, removeOnFail: { count: 1000 } },
  });
}

/** Queues a run of the campaign, now or at `at`. Several runs may be queued; the lease lets one step at a time. */
export async function queueCampaignRun(queue: Queue<CampaignJob>, job: CampaignJob, at = Date.now()): Promise<void> {
  const delay = Math.max(0, at - Date.now());
  await queue.add('run', job, { jobId: `campaign-${job.campaignId}-${randomBytes(6).toString('hex')}`, ...(delay > 0 ? { delay } : {}) });
}

export interface CampaignRunnerDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignStore;
  intake: MessageIntake;
  messages: MessageStore;
  broadcaster: Broadcaster;
  log: BroadcastLog;
  logger: Logger;
}

/**
 * Runs campaigns (docs/architecture.md, "Campaigns"): a BullMQ job steps a running
 * campaign every CAMPAIGN_STEP_MS, releasing the next slice of its audience at its pace
 * and recording where it got to in the campaign hash after each slice. A step repeated
 * after a crash sends the same slice again (same message ids: devices drop the copies), so
 * a campaign survives kill -9 of its dispatcher and finishes without duplicates shown.
 *
 * Broadcast audiences (whole app, topic, condition) are one message in the app's log whose
 * audience buckets are released over time on every gateway at once; list audiences are
 * sent LIST_CHUNK lines per message through the ordinary unicast path.
 */
export class CampaignRunner {
  constructor(private readonly deps: CampaignRunnerDeps) {}

  worker(connection: Redis, options: { concurrency: number; stalledIntervalMs: number }): Worker<CampaignJob> {
    return new Worker<CampaignJob>(CAMPAIGN_QUEUE, async (job) => this.run(job.data, job.id ?? ''), {
      connection, prefix: this.deps.keys.queuePrefix(), concurrency: options.concurrency,
      stalledInterval: options.stalledIntervalMs, lockDuration: options.stalledIntervalMs, maxStalledCount: 1000,
    });
  }

  async run(job: CampaignJob, runner: string): Promise<void> {
    const { campaigns, redis, keys } = this.deps;
    const lease = keys.campaignLease(job.appId, job.campaignId);
    // Another run may still be finishing its step (a quick pause and resume): wait for it.
    const deadline = Date.now() + 2 * LEASE_MS;
    while ((await redis.set(lease, runner, 'PX', LEASE_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) return;
      await sleep(100);
    }
    // Chunk messages this run stored that no dispatcher has fanned out yet, oldest first.
    const ahead: string[] = [];
    try {
      for (;;) {
        const c = await campaigns.get(job.appId, job.campaignId);
        if (!c) return;
        if (c.state === 'scheduled') {
          if (c.startAt !== undefined && c.startAt > Date.now() + 50) return; // its delayed run comes later
          if ((await campaigns.transition(c.appId, c.id, 'running', ['scheduled'])) !== 'ok') continue;
          continue;
        }
        if (c.state !== 'running') return;
        const startedAt = c.startedAt ?? Date.now();
        if (c.startedAt === undefined) await campaigns.mark(c.appId, c.id, { startedAt });
        const stepStarted = Date.now();
        const unpacedList = c.audience.kind === 'list' && c.ratePerSecond === 0;
        if (unpacedList && !(await this.caughtUp(ahead))) {
          // Dispatchers are behind: look at the campaign's state again shortly (pause and
          // cancel still act within a second) and step when they have caught up.
          await redis.set(lease, runner, 'PX', LEASE_MS);
          await sleep(25);
          continue;
        }
        const step = c.audience.kind === 'list' ? await this.listStep(c, startedAt) : { done: await this.broadcastStep(c), stored: [] };
        if (step.done) {
          if ((await campaigns.transition(c.appId, c.id, 'completed', ['running'])) === 'ok') await campaigns.mark(c.appId, c.id, { finishedAt: Date.now() });
          if (c.messageId) await this.deps.log.setPaced(c.appId, c.messageId, false);
          return;
        }
        ahead.push(...step.stored);
        await redis.set(lease, runner, 'PX', LEASE_MS);
        if (!unpacedList) await sleep(Math.max(0, CAMPAIGN_STEP_MS - (Date.now() - stepStarted)));
      }
    } finally {
      if ((await redis.get(lease)) === runner) await redis.del(lease);
    }
  }

  /** Releases the next audience buckets of the campaign's broadcast; true when all are. */
  private async broadcastStep(c: Campaign): Promise<boolean> {
    const { campaigns, broadcaster, log } = this.deps;
    const message = await this.broadcastOf(c);
    if (!message) return true; // expired and gone: nothing more can be sent
    const { released } = await campaigns.progress(c.appId, c.id);
    const entry = await broadcaster.prepare(message, released);
    let next = AUDIENCE_BUCKETS;
    if (c.ratePerSecond > 0) {
      // Buckets per step so that ≈ rate devices a second are released, counting the whole
      // audience (online or not: gateways' announced loads lag, and a device offline now
      // may connect while its bucket is released) — the pace is never exceeded.
      const audience = await broadcaster.estimate(c.appId, message.target);
      const perStep = (c.ratePerSecond * (CAMPAIGN_STEP_MS / 1000) * AUDIENCE_BUCKETS) / Math.max(1, audience);
      next = Math.min(AUDIENCE_BUCKETS, released + Math.max(1, Math.round(perStep)));
    }
    // Released in the log first: a device of these buckets that connects while the
    // publish is under way is caught up from the log.
    await log.release(message.id, next);
    const sent = await broadcaster.publish({ ...entry, fromBucket: released, toBucket: next });
    const now = Date.now();
    await campaigns.advance(c.appId, c.id, { released: next, sent, at: now, bucketMs: SERIES_BUCKET_MS });
    return next >= AUDIENCE_BUCKETS;
  }

  /** The campaign's one message, created (not queued: the runner sends it) on its first step. */
  private async broadcastOf(c: Campaign): Promise<Broadcast | null> {
    const { intake, messages, campaigns, log } = this.deps;
    let id = c.messageId;
    if (!id) {
      const audience = c.audience;
      if (audience.kind === 'list') return null;
      const m = await intake.prepare(c.appId, { to: audience, ...c.message, campaignId: c.id });
      await messages.create([m], undefined, { outbox: false });
      await campaigns.mark(c.appId, c.id, { messageId: m.id });
      if (c.ratePerSecond > 0) await log.setPaced(c.appId, m.id, true);
      id = m.id;
    }
    const [m] = await messages.load([id]);
    if (!m || !isBroadcast(m.target)) return null;
    return { ...m, target: m.target, campaignId: c.id };
  }

  /** Drops the chunk messages fanned out since from the front of `ahead`; true when few enough are left. */
  private async caughtUp(ahead: string[]): Promise<boolean> {
    if (ahead.length < MAX_CHUNKS_AHEAD) return true;
    const done = await this.deps.messages.fannedOut(ahead);
    const firstWaiting = done.indexOf(false);
    ahead.splice(0, firstWaiting === -1 ? ahead.length : firstWaiting);
    return ahead.length < MAX_CHUNKS_AHEAD;
  }

  /** Sends the next lines of an uploaded audience as chunk messages; `done` when none are left. */
  private async listStep(c: Campaign, startedAt: number): Promise<{ done: boolean; stored: string[] }> {
    const { campaigns, intake } = this.deps;
    const { offset, chunks } = await campaigns.progress(c.appId, c.id);
    const n = c.ratePerSecond > 0 ? Math.min(LIST_CHUNK, Math.max(1, Math.round(c.ratePerSecond * (CAMPAIGN_STEP_MS / 1000)))) : LIST_CHUNK;
    const lines = await campaigns.audienceSlice(c.appId, c.id, offset, n);
    if (lines.length === 0) return { done: true, stored: [] };
    const devices = lines.filter((l) => !l.startsWith(ALIAS_LINE_PREFIX));
    const aliases = lines.filter((l) => l.startsWith(ALIAS_LINE_PREFIX)).map((l) => l.slice(ALIAS_LINE_PREFIX.length));
    const prepared: NewMessage[] = [];
    for (const [kind, ids] of [['devices', devices], ['aliases', aliases]] as const) {
      if (ids.length === 0) continue;
      // Accepted now (its TTL counts from this slice's send, and the outbox sees a fresh
      // entry); only the id is fixed by (campaign, chunk).
      prepared.push(await intake.prepare(c.appId, {
        to: { kind, ids }, ...c.message, campaignId: c.id, id: chunkMessageId(c.id, startedAt, chunks, kind), unchecked: true,
      }));
    }
    await intake.commit(prepared);
    await campaigns.advance(c.appId, c.id, { offset: offset + lines.length, chunkIds: prepared.map((m) => m.id), sent: lines.length, at: Date.now(), bucketMs: SERIES_BUCKET_MS });
    return { done: offset + lines.length >= c.audienceSize, stored: prepared.map((m) => m.id) };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
