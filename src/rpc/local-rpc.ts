import type { RpcArgs, RpcMethod, RpcResult } from './rpc-pool.js';
import { fromRpcFailure, withRpcErrors } from './rpc-errors.js';

/** What a caller of another tier needs: `call(method, ...args)`, over Thrift (RpcPool) or in this process (LocalRpc). */
export interface RpcCaller<C> {
  call<M extends RpcMethod<C>>(method: M, ...args: RpcArgs<C, M>): Promise<RpcResult<C, M>>;
}

/**
 * A tier's Thrift handler in this process, called without the socket (`rpc.inProcess`):
 * in `petrel all` the dispatcher and the gateway are one process, and each delivery and
 * report went out through the Thrift encoder, a loopback write and read, and back, on the
 * same core (a tenth of that process's busy time at 1,000 messages/s). The caller sees
 * what it would over the wire: the same handler, the same argument and result types
 * (convert.ts builds the generated structs either way), failures as the same PetrelError
 * codes (a handler's bug is `internal`, logged by `onUnexpected`), and the handler runs
 * after the caller's synchronous code, as it would on a reply.
 */
export class LocalRpc<C> implements RpcCaller<C> {
  private readonly handler: Record<string, (...args: unknown[]) => unknown>;

  constructor(
    handler: object,
    private readonly name: string,
    onUnexpected?: (method: string, err: unknown) => void,
  ) {
    this.handler = withRpcErrors(handler, onUnexpected) as Record<string, (...args: unknown[]) => unknown>;
  }

  async call<M extends RpcMethod<C>>(method: M, ...args: RpcArgs<C, M>): Promise<RpcResult<C, M>> {
    await undefined;
    const fn = this.handler[method];
    try {
      if (typeof fn !== 'function') throw new Error(`no method ${method}`);
      return (await fn(...args)) as RpcResult<C, M>;
    } catch (err) {
      throw fromRpcFailure(err, `${this.name} ${method}`);
    }
  }
}
