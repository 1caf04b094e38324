/**
 * Errors across the Thrift boundary. A handler throws PetrelError like any of our code;
 * the server turns it into the IDL's RpcError (idl/common.thrift) and the client turns
 * that back into a PetrelError with the same code, so a caller sees the same stable codes
 * whether the work ran in its own process or in another tier.
 */

import { isErrorCode, PetrelError, errorCatalog } from '../domain/errors.js';
import { RpcError } from './gen/index.js';

/**
 * What a handler's failure travels as. A PetrelError keeps its code and message; anything
 * else is a bug on the serving side and travels as a bare `internal`, so that stack
 * traces and internal details stay in that process's log.
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof PetrelError) return new RpcError({ code: err.code, message: err.message });
  return new RpcError({ code: 'internal', message: errorCatalog.internal.message });
}

/**
 * The handler with every method's failures converted by toRpcError. The generated
 * Processor answers an RpcError as the method's declared exception and anything else as
 * a TApplicationException carrying only `err.message`, which would lose the code.
 * `onUnexpected` sees each failure that was not a PetrelError (to log it here).
 *
 * So every method in idl/ declares `throws (1: common.RpcError err)`; one without it would
 * report any failure to its caller as `internal`, whatever was thrown.
 */
export function withRpcErrors<H extends object>(handler: H, onUnexpected?: (method: string, err: unknown) => void): H {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(handler, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      let method = wrapped.get(key);
      if (method === undefined) {
        const name = String(key);
        method = async (...args: unknown[]): Promise<unknown> => {
          try {
            return await Reflect.apply(value, target, args);
          } catch (err) {
            if (!(err instanceof PetrelError) && !(err instanceof RpcError)) onUnexpected?.(name, err);
            throw toRpcError(err);
          }
        };
        wrapped.set(key, method);
      }
      return method;
    },
  });
}

/**
 * A failed call as the caller sees it. `where` names the remote and the method
 * ("gateway 10.0.0.5:9090 deliver") for messages that did not come from the remote.
 */
export function fromRpcFailure(err: unknown, where: string): PetrelError {
  if (err instanceof PetrelError) return err;
  if (err instanceof RpcError) {
    if (isErrorCode(err.code)) return new PetrelError(err.code, err.message, { cause: err });
    return new PetrelError('internal', `${where} failed with an unknown code ${err.code}: ${err.message}`, { cause: err });
  }
  // TApplicationException: the remote failed outside the method's declared exceptions
  // (a handler bug, an unknown method). TProtocolException: we could not encode the
  // arguments (a required field unset). Neither is the caller's to retry. Both are
  // Errors at runtime (util.inherits), whatever @types/thrift says.
  const message = err instanceof Error ? err.message : String(err);
  return new PetrelError('internal', `${where} failed: ${message}`, { cause: err });
}
