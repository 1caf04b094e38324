import type { Queue } from 'bullmq';
import { canonicalBroadcast } from '../domain/audience.js';
import { campaignTransitions, type Campaign, type CampaignAction, type CampaignAudience, type CampaignMessage, type CampaignState } from '../domain/campaign.js';
import { PetrelError } from '../domain/errors.js';
import { newMessageId } from '../domain/message.js';
import type { BroadcastLog } from '../store/broadcast-log.js';
import type { CampaignStore, SeriesField } from '../store/campaign-store.js';
import type { MessageStore } from '../store/message-store.js';
import { storage } from '../store/redis.js';
import { queueCampaignRun, type CampaignJob } from './campaign-runner.js';
import type { MessageIntake } from './message-intake.js';

export interface NewCampaign {
  name: string;
  audience: CampaignAudience;
  message: CampaignMessage;
  startAt?: number;
  ratePerSecond?: number;
}

/** What a marketing team watches: estimated audience and what happened so far. */
export interface CampaignProgressView {
  audience: number;
  sent: number;
  delivered: number;
  opened: number;
  failed: number;
  expired: number;
}

export interface CampaignView extends Campaign {
  progress: CampaignProgressView;
}

/**
 * The API side of campaigns: create, upload a list audience, start, pause, resume,
 * cancel, watch. State changes are decided by the campaign hash (campaign_transition_1);
 * the runner (campaign-runner.ts) reads the state before every step.
 */
export class CampaignControl {
  constructor(
    private readonly store: CampaignStore,
    private readonly queue: Queue<CampaignJob>,
    private readonly intake: MessageIntake,
    private readonly messages: MessageStore,
    private readonly log: BroadcastLog,
    private readonly maxAudience: number,
  ) {}

  async create(appId: string, input: NewCampaign, now = Date.now()): Promise<CampaignView> {
    const audience = input.audience.kind === 'list' ? input.audience : canonicalBroadcast(input.audience);
    // The message is checked now (size, encodable), not when the campaign starts.
    await this.intake.prepare(appId, { to: { kind: 'devices', ids: [] }, ...input.message, unchecked: true });
    const c: Campaign = {
      id: newMessageId(now), appId, name: input.name, state: 'draft', audience, message: input.message,
      ratePerSecond: input.ratePerSecond ?? 0, createdAt: now, audienceSize: 0,
      ...(input.startAt === undefined ? {} : { startAt: input.startAt }),
    };
    await storage(this.store.create(c));
    return this.view(c);
  }

  async get(appId: string, id: string): Promise<CampaignView> {
    return this.view(await this.found(appId, id));
  }

  async list(appId: string, before: string | null, limit: number): Promise<{ campaigns: CampaignView[]; next: string | null }> {
    const page = await storage(this.store.list(appId, before, limit));
    return { campaigns: await Promise.all(page.campaigns.map((c) => this.view(c))), next: page.next };
  }

  async series(appId: string, id: string): Promise<Array<{ at: number } & Record<SeriesField, number>>> {
    await this.found(appId, id);
    return storage(this.store.series(appId, id));
  }

  /** Streams an uploaded list in (draft list campaigns only). */
  async upload(appId: string, id: string, lines: AsyncIterable<string>, check: (line: string) => string | null): Promise<number> {
    const c = await this.found(appId, id);
    if (c.audience.kind !== 'list') throw new PetrelError('campaign_state', 'only a campaign with a list audience takes an uploaded list');
    if (c.state !== 'draft') throw new PetrelError('campaign_state', `the audience can only be replaced in draft; the campaign is ${c.state}`);
    const r = await storage(this.store.replaceAudience(appId, id, lines, this.maxAudience, check));
    if ('error' in r) throw new PetrelError(r.line > this.maxAudience ? 'audience_too_large' : 'audience_invalid', `line ${r.line}: ${r.error}`, { details: { line: r.line } });
    return r.count;
  }

  async act(appId: string, id: string, action: CampaignAction, now = Date.now()): Promise<CampaignView> {
    const c = await this.found(appId, id);
    const to: CampaignState = action === 'start' ? 'scheduled'
      : action === 'pause' ? 'paused'
        : action === 'cancel' ? 'cancelled'
          : c.startedAt === undefined ? 'scheduled' : 'running';
    if (action === 'start' && c.audience.kind === 'list' && c.audienceSize === 0) throw new PetrelError('audience_invalid', 'upload the list first (PUT …/audience)');
    const outcome = await storage(this.store.transition(appId, id, to, campaignTransitions[action], now));
    if (outcome === 'not_found') throw new PetrelError('campaign_not_found');
    if (outcome !== 'ok') {
      // Repeating an action that already happened is harmless.
      if (outcome === to) return this.get(appId, id);
      throw new PetrelError('campaign_state', `cannot ${action} a ${outcome} campaign`);
    }
    if (action === 'start' || action === 'resume') {
      await storage(queueCampaignRun(this.queue, { appId, campaignId: id }, to === 'scheduled' ? (c.startAt ?? now) : now));
    }
    if (action === 'cancel' && c.messageId) {
      await storage(this.log.setPaced(appId, c.messageId, false));
      // Its publish never completes: settled as overtaken (catch-up still serves the
      // released buckets to cursors that may have passed it).
      await storage(this.log.markOvertaken(appId, [c.messageId]));
      await storage(this.log.settle(appId, c.messageId));
    }
    return this.get(appId, id);
  }

  private async found(appId: string, id: string): Promise<Campaign> {
    const c = await storage(this.store.get(appId, id));
    if (!c) throw new PetrelError('campaign_not_found');
    return c;
  }

  private async view(c: Campaign): Promise<CampaignView> {
    const sent = await storage(this.store.sent(c.appId, c.id));
    const ids = c.audience.kind === 'list' ? await storage(this.store.chunkMessages(c.appId, c.id)) : c.messageId ? [c.messageId] : [];
    const progress: CampaignProgressView = { audience: c.audience.kind === 'list' ? c.audienceSize : 0, sent, delivered: 0, opened: 0, failed: 0, expired: 0 };
    // Counters only (a million-line campaign has 1,000–2,000 chunk messages): reading
    // whole traces made a progress read cost more than the sending.
    for (const counts of await storage(this.messages.counts(c.appId, ids))) {
      if (!counts) continue;
      if (c.audience.kind !== 'list') progress.audience = counts.targeted;
      progress.delivered += counts.delivered;
      progress.opened += counts.opened;
      progress.failed += counts.failed;
      progress.expired += counts.expired;
    }
    return { ...c, progress };
  }
}
