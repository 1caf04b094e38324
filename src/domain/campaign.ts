import { createHash } from 'node:crypto';
import { encodeTime } from 'ulid';
import type { NotificationFields } from '../protocol/index.js';
import type { BroadcastTarget } from './message.js';

/**
 * Campaigns: a message to a whole audience that a marketing team schedules, paces, watches
 * and can stop (docs/architecture.md, "Campaigns").
 */

/**
 * draft → scheduled → running ⇄ paused → completed; cancelled from any state before
 * completed. `scheduled` waits for its start time; a paused campaign that never started
 * resumes into `scheduled` while its start time is ahead.
 */
export type CampaignState = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled';

/** Which states each action may start from. */
export const campaignTransitions = {
  start: ['draft'],
  pause: ['scheduled', 'running'],
  resume: ['paused'],
  cancel: ['draft', 'scheduled', 'running', 'paused'],
} as const satisfies Record<string, readonly CampaignState[]>;
export type CampaignAction = keyof typeof campaignTransitions;

/** A broadcast audience (read diffusion) or an uploaded list of devices and aliases (write diffusion, in chunks). */
export type CampaignAudience = BroadcastTarget | { readonly kind: 'list' };

export interface CampaignMessage {
  data?: unknown;
  notification?: NotificationFields;
  /** Seconds, from the campaign's start (broadcast audiences) or each list slice's send. */
  ttl?: number;
}

export interface Campaign {
  id: string;
  appId: string;
  name: string;
  state: CampaignState;
  audience: CampaignAudience;
  message: CampaignMessage;
  /** Unix ms; absent: as soon as started. */
  startAt?: number;
  /** Deliveries per second the campaign is paced at; 0: as fast as the service goes. */
  ratePerSecond: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Broadcast audiences: the one message sent; list audiences: none (one per chunk). */
  messageId?: string;
  /** Lines uploaded (list audiences). */
  audienceSize: number;
}

/** Lines of an uploaded audience: a device id, or `alias:<name>`. */
export const ALIAS_LINE_PREFIX = 'alias:';

/** An uploaded list is sent this many lines per message (one send job, one inbox write per device). */
export const LIST_CHUNK = 1000;

/**
 * The message id of one chunk of a list campaign: a ULID whose time is the campaign's start
 * and whose random part is derived from (campaign, chunk, kind). A runner that dies after
 * storing a chunk and before recording its progress stores the same ids again, so devices
 * drop the copies by id instead of showing the message twice.
 */
export function chunkMessageId(campaignId: string, startedAt: number, chunk: number, kind: 'devices' | 'aliases'): string {
  const digest = createHash('sha256').update(`${campaignId}:${chunk}:${kind}`).digest();
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[digest[i]! & 31];
  return encodeTime(startedAt, 10) + random;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
