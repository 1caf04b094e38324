import { callbackUrlProblem } from '../domain/callback-url.js';
import { PetrelError } from '../domain/errors.js';
import { outcomeToThrift, reportFromThrift } from '../rpc/convert.js';
import { SendResult, type DispatchService, type ReportBatch, type ReportResult, type SendRequest } from '../rpc/gen/index.js';
import type { AppStore } from '../store/app-store.js';
import { storage } from '../store/redis.js';
import type { MessageIntake, SendInput } from './message-intake.js';
import type { SessionReports } from './session-reports.js';

/** DispatchService (idl/dispatch.thrift) served by a dispatcher: gateways' reports, internal send. */
export function dispatchRpcHandler(reports: SessionReports, intake: MessageIntake, apps: AppStore, maxTtlSec: number): DispatchService.IHandler {
  return {
    async report(batch: ReportBatch): Promise<ReportResult> {
      return outcomeToThrift(await reports.handle(reportFromThrift(batch)));
    },
    async send(request: SendRequest): Promise<SendResult> {
      const input = sendInputOf(request);
      if (input.ttl !== undefined && (input.ttl < 0 || input.ttl > maxTtlSec)) throw new PetrelError('body_invalid', `ttl must be 0..${maxTtlSec}`);
      const app = await storage(apps.get(request.app));
      if (!app || app.status !== 'active') throw new PetrelError('app_unknown');
      const accepted = await intake.accept(app.id, input);
      return new SendResult(accepted);
    },
  };
}

function sendInputOf(r: SendRequest): SendInput {
  const lists = (['devices', 'aliases', 'accounts'] as const).filter((k) => r[k] !== undefined && r[k].length > 0);
  const named = [...lists, ...(['topic', 'condition'] as const).filter((k) => r[k] !== undefined && r[k] !== null), ...(r.all === true ? ['all' as const] : [])];
  if (named.length !== 1) throw new PetrelError('body_invalid', 'name exactly one of devices, aliases, accounts, topic, condition or all');
  const kind = named[0]!;
  const input: SendInput = {
    to: kind === 'topic' ? { kind, topic: r.topic! } : kind === 'condition' ? { kind, condition: r.condition! } : kind === 'all' ? { kind } : { kind, ids: r[kind] ?? [] },
  };
  if (r.dataJson !== undefined) {
    try {
      input.data = JSON.parse(r.dataJson);
    } catch {
      throw new PetrelError('body_invalid', 'dataJson is not valid JSON');
    }
  }
  if (r.notification) input.notification = { title: r.notification.title, body: r.notification.body };
  if (r.ttl !== undefined) input.ttl = r.ttl;
  if (r.callbackUrl !== undefined) {
    const problem = callbackUrlProblem(r.callbackUrl);
    if (problem) throw new PetrelError('body_invalid', `callbackUrl must be ${problem}`);
    input.callbackUrl = r.callbackUrl;
  }
  return input;
}
