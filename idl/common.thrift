// Types shared by the gateway and dispatch services (docs/architecture.md, "Between tiers").
// Generated code lives in src/rpc/gen/ (npm run gen); never edit it by hand.
namespace js petrel.rpc

/** A failure with a stable code from the error catalog (src/domain/errors.ts). */
exception RpcError {
  1: required string code
  2: required string message
}
