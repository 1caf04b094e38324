import { PetrelError } from '../domain/errors.js';
import type { ReportBatch, ReportOutcome } from '../rpc/contract.js';
import { outcomeFromThrift, reportToThrift } from '../rpc/convert.js';
import type { DispatchService } from '../rpc/gen/index.js';
import type { NodePools } from '../rpc/node-pools.js';
import type { DispatchLink } from './dispatch-reporter.js';

/**
 * DispatchLink over Thrift: reports go to one of the live dispatchers (round-robin over
 * the registry's list); when one fails the next is tried within the same report.
 */
export class DispatchClient implements DispatchLink {
  private next = 0;

  constructor(private readonly dispatchers: NodePools<DispatchService.Client>) {}

  async report(batch: ReportBatch): Promise<ReportOutcome> {
    const nodes = await this.dispatchers.live();
    if (nodes.length === 0) throw new PetrelError('rpc_unavailable', 'no dispatcher is registered');
    const request = reportToThrift(batch);
    let lastError: unknown;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[(this.next + i) % nodes.length]!;
      try {
        const pool = await this.dispatchers.pool(node.id);
        if (!pool) continue;
        const result = await pool.call('report', request);
        this.next = (this.next + i + 1) % nodes.length;
        return outcomeFromThrift(result);
      } catch (err) {
        lastError = err;
        this.dispatchers.invalidate();
      }
    }
    throw lastError ?? new PetrelError('rpc_unavailable', 'no dispatcher answered');
  }
}
