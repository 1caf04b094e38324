import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Job } from 'bullmq';
import { isPrivateAddress } from '../../src/dispatch/callback-address.js';
import { dispatchRpcHandler } from '../../src/dispatch/dispatch-rpc.js';
import type { MessageIntake, SendInput } from '../../src/dispatch/message-intake.js';
import type { SessionReports } from '../../src/dispatch/session-reports.js';
import type { PetrelError } from '../../src/domain/errors.js';
import { SendRequest } from '../../src/rpc/gen/index.js';
import type { AppStore } from '../../src/store/app-store.js';
import type { ReceiptJob } from '../../src/dispatch/receipt-queue.js';
import { ReceiptSender } from '../../src/dispatch/receipt-sender.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { DeadLetter, ReceiptDeadLetters } from '../../src/store/receipt-dead-letters.js';

function sender(allowPrivateAddresses: boolean, timeoutMs = 1000) {
  const letters: DeadLetter[] = [];
  const deadLetters = { add: async (_app: string, l: DeadLetter[]) => { letters.push(...l); } } as unknown as ReceiptDeadLetters;
  const s = new ReceiptSender({ secretOf: async () => 'k', deadLetters, timeoutMs, allowPrivateAddresses, metrics: createMetrics(undefined, { defaults: false }), log: createLogger({ level: 'silent' }) });
  return { s, letters };
}

function job(url: string, attemptsMade = 0, attempts = 3): Job<ReceiptJob> {
  return { id: 'rcpt_test', data: { appId: 'a', url, events: [] }, attemptsMade, opts: { attempts } } as unknown as Job<ReceiptJob>;
}

describe('receipt sender', () => {
  it('refuses private and loopback addresses unless allowed, by literal and by name', async () => {
    const { s } = sender(false);
    for (const url of ['http://127.0.0.1:9/x', 'http://[::1]:9/x', 'http://10.1.2.3:9/', 'http://169.254.169.254/latest', 'http://[::ffff:127.0.0.1]:9/']) {
      await assert.rejects(s.run(job(url)), /private address/, url);
    }
    await assert.rejects(s.run(job('http://localhost:9/x')), /private address/);
    assert.ok(!isPrivateAddress('93.184.216.34'));
    assert.ok(!isPrivateAddress('2606:2800:220:1:248:1893:25c8:1946'));
  });

  it('does not follow redirects, times out, and dead-letters on the last attempt with the status', async () => {
    let hang = false;
    const server = createServer((req, res) => {
      req.resume();
      if (hang) return;
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end('x'.repeat(10_000));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/r`;
    const { s, letters } = sender(true, 300);
    await assert.rejects(s.run(job(url)), /answered 302/);
    assert.equal(letters.length, 0);
    await assert.rejects(s.run(job(url, 2, 3)), /answered 302/);
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.status, 302);
    assert.ok(letters[0]!.error.length < 600, 'only the start of the answer is kept');
    hang = true;
    await assert.rejects(s.run(job(url)), /no answer within 300 ms/);
    server.closeAllConnections();
    server.close();
  });
});

describe('DispatchService.send with a callbackUrl', () => {
  it('passes a valid one to the intake and refuses another as body_invalid', async () => {
    const inputs: SendInput[] = [];
    const intake = { accept: async (_app: string, input: SendInput) => { inputs.push(input); return { id: 'm', accepted: 1 }; } } as unknown as MessageIntake;
    const apps = { get: async (id: string) => ({ id, status: 'active' }) } as unknown as AppStore;
    const handler = dispatchRpcHandler({} as SessionReports, intake, apps, 3600);
    await handler.send(new SendRequest({ app: 'a', devices: ['d'], callbackUrl: 'https://example.com/r' }));
    assert.equal(inputs[0]!.callbackUrl, 'https://example.com/r');
    await assert.rejects(async () => handler.send(new SendRequest({ app: 'a', devices: ['d'], callbackUrl: 'gopher://example.com/' })), (err: PetrelError) => err.code === 'body_invalid');
    assert.equal(inputs.length, 1);
  });
});
