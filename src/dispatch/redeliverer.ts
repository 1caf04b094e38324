import type { Logger } from '../observability/logger.js';
import type { RedeliverySchedule } from '../store/redelivery-schedule.js';
import type { RouteStore } from '../store/route-store.js';
import { type Courier, GatewayBatches } from './courier.js';
import type { InboxReplay } from './inbox-replay.js';
import { PollLoop } from './poll-loop.js';

export interface RedelivererOptions {
  /** How often the schedule is polled. */
  intervalMs: number;
  /** Devices claimed per poll. */
  batch: number;
  /** After this long without reaching the device's gateway, wait for its next session instead. */
  giveUpMs: number;
}

/**
 * Works the redelivery schedule (store/redelivery-schedule.ts): for each due device that
 * still has a route, replays its inbox to that session. A gateway that is still
 * unreachable puts the device back on the schedule (Courier does that); a device without
 * a route gets its inbox on its next ONLINE instead.
 */
export class Redeliverer {
  private readonly loop: PollLoop;

  constructor(
    private readonly schedule: RedeliverySchedule,
    private readonly routes: RouteStore,
    private readonly replay: InboxReplay,
    private readonly courier: Courier,
    private readonly options: RedelivererOptions,
    private readonly log: Logger,
  ) {
    this.loop = new PollLoop('redelivery poll', options.intervalMs, () => this.poll(), log);
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One pass; returns the number of devices claimed. */
  async poll(now = Date.now()): Promise<number> {
    const due = await this.schedule.claim(this.options.batch, now);
    if (due.length === 0) return 0;
    const routes = await this.routes.lookup(due.map((d) => d.deviceId));
    const plan = new GatewayBatches();
    const settled: string[] = [];
    await Promise.all(
      due.map(async (d, i) => {
        const route = routes[i];
        if (!route || now - d.since > this.options.giveUpMs) {
          if (route) this.log.warn({ dev: d.deviceId, gateway: route.gatewayId }, 'gave up redelivering; the inbox waits for the next session');
          settled.push(d.deviceId);
          return;
        }
        if ((await this.replay.add(plan, d.deviceId, route.gatewayId, route.sessionId)) === 0) settled.push(d.deviceId);
      }),
    );
    const sent = await this.courier.send(plan);
    await this.replay.delivered(sent);
    for (const s of sent) settled.push(s.deviceId);
    await this.schedule.settle([...new Set(settled)]);
    return due.length;
  }
}
