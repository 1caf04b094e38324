// Public API of @petrel/sdk-client. The wire codec is the project's one copy in
// src/protocol, compiled alongside (never re-implemented here).
export { PetrelClient, type ClientStatus } from './client.js';
export type { PetrelClientOptions } from './options.js';
export { Backoff, defaultBackoff, type BackoffConfig } from './connection-loop/backoff.js';
export { FileStore, MemoryStore, parseDeviceState, type DeviceState, type DeviceStore } from './credential-store.js';
export { SeenMessageIds, DEFAULT_DEDUP_CAPACITY } from './dedup.js';
export { PetrelError, isPetrelError, petrelErrorCatalog, type PetrelErrorCode } from './errors.js';
export {
  TypedEmitter,
  type ClientEvents,
  type ConnectedEvent,
  type DisconnectedEvent,
  type Listener,
  type RegisteredEvent,
  type ResyncEvent,
  type RevokedEvent,
  type StoppedEvent,
} from './events.js';
export type { NotificationFields, PushMessage } from './push-message.js';
export { SDK_VERSION } from './version.js';
export { CloseCode, WireCodec, type ResyncReason } from '../../src/protocol/index.js';
