import type { Session, SessionHooks } from '../gateway/session-hooks.js';
import type { Logger } from '../observability/logger.js';
import type { SubscriptionStore } from './subscriptions.js';

/**
 * What the dispatch tier does with a gateway's session reports. In this version SUB/UNSUB
 * are stored and presence and ACKs are logged; the send path (ACK tracking, inbox replay
 * on connect) builds on these same hooks.
 */
export class SessionReports implements SessionHooks {
  constructor(
    private readonly subscriptions: SubscriptionStore,
    private readonly log: Logger,
  ) {}

  sessionOpened(session: Session): void {
    this.log.debug({ dev: session.deviceId, app: session.appId, sid: session.sessionId }, 'device online');
  }

  sessionClosed(session: Session, closeCode: number): void {
    this.log.debug({ dev: session.deviceId, sid: session.sessionId, code: closeCode }, 'device offline');
  }

  acked(session: Session, ids: readonly string[]): void {
    this.log.trace({ dev: session.deviceId, ids }, 'acked');
  }

  opened(session: Session, messageId: string): void {
    this.log.debug({ dev: session.deviceId, id: messageId }, 'opened');
  }

  subscribe(session: Session, topics: readonly string[], subscribe: boolean): Promise<void> {
    return this.subscriptions.change(session.appId, session.deviceId, topics, subscribe);
  }
}
