import { PetrelError } from './errors.js';

/**
 * Topic names: 1–128 characters of letters, digits and `_ - . ~ %` (the FCM topic
 * alphabet), so they can be used unescaped in URLs, Redis keys and conditions.
 */
export const TOPIC_PATTERN = /^[A-Za-z0-9_.~%-]{1,128}$/;

export function isValidTopic(topic: string): boolean {
  return TOPIC_PATTERN.test(topic);
}

/** The topic name itself, or `topic_invalid`. */
export function validTopic(topic: string): string {
  if (!isValidTopic(topic)) throw new PetrelError('topic_invalid', `invalid topic name "${topic.slice(0, 64)}"`);
  return topic;
}
