import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReceiptEvent } from '../../src/dispatch/receipt-queue.js';

export interface ReceivedPost {
  headers: IncomingHttpHeaders;
  raw: string;
  events: ReceiptEvent[];
  /** What the receiver answered. */
  status: number;
}

/**
 * An app server's receipt endpoint on loopback: records every POST and answers with the
 * status `answer` gives for the n-th POST (0-based), 200 by default.
 */
export class ReceiptReceiver {
  readonly posts: ReceivedPost[] = [];
  answer: (n: number) => number = () => 200;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<ReceiptReceiver> {
    let self: ReceiptReceiver | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const status = self!.answer(self!.posts.length);
        self!.posts.push({ headers: req.headers, raw, events: (JSON.parse(raw) as { events: ReceiptEvent[] }).events, status });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 300 ? `nope ${status}` : 'ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    self = new ReceiptReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/receipts`);
    return self;
  }

  /** Every event received in 2xx-answered POSTs. */
  accepted(): ReceiptEvent[] {
    return this.posts.filter((p) => p.status < 300).flatMap((p) => p.events);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
