import type { RpcArgs, RpcMethod, RpcResult } from './rpc-pool.js';
import { PetrelError } from '../domain/errors.js';
import { fromRpcFailure, withRpcErrors } from './rpc-errors.js';

/** A handler serving client type C's methods (a generated IHandler: its extra context argument is optional). */
export type LocalHandler<C> = { [M in RpcMethod<C>]: (...args: RpcArgs<C, M>) => RpcResult<C, M> | Promise<RpcResult<C, M>> };

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
 * codes (a handler's bug is `internal`, logged by `onUnexpected`; no answer in time is
 * `rpc_timeout`), and the handler runs after the caller's synchronous code, as it would
 * on a reply. What differs: the arguments are the caller's objects, not copies (no
 * handler changes them; frames are never written to).
 */
export class LocalRpc<C> implements RpcCaller<C> {
  private readonly handler: Record<string, (...args: unknown[]) => unknown>;

  constructor(
    handler: LocalHandler<C>,
    private readonly name: string,
    /** A call not answered by then fails with rpc_timeout, as over Thrift (the handler is not stopped). */
    private readonly callTimeoutMs: number,
    onUnexpected?: (method: string, err: unknown) => void,
  ) {
    this.handler = withRpcErrors(handler, onUnexpected) as unknown as Record<string, (...args: unknown[]) => unknown>;
  }

  async call<M extends RpcMethod<C>>(method: M, ...args: RpcArgs<C, M>): Promise<RpcResult<C, M>> {
    await undefined;
    const fn = this.handler[method];
    let timer: NodeJS.Timeout | undefined;
    try {
      if (typeof fn !== 'function') throw new Error(`no method ${method}`);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PetrelError('rpc_timeout', `${this.name} ${method}: no answer within ${this.callTimeoutMs} ms`)), this.callTimeoutMs);
      });
      return (await Promise.race([fn(...args), timeout])) as RpcResult<C, M>;
    } catch (err) {
      throw fromRpcFailure(err, `${this.name} ${method}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
