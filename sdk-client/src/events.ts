import type { ResyncReason } from '../../src/protocol/index.js';
import type { PetrelError } from './errors.js';
import type { PushMessage } from './push-message.js';

export interface ConnectedEvent {
  /** Session id from WELCOME. */
  readonly sid: string;
  /** Heartbeat granted by the gateway, seconds. */
  readonly hb: number;
  readonly deviceId: string;
}

export interface RegisteredEvent {
  /** The new device id (regId): hand it to your app server so it can target this device. */
  readonly deviceId: string;
}

export interface ResyncEvent {
  readonly reason: ResyncReason;
}

export interface RevokedEvent {
  /** The message id of a broadcast the app server revoked. */
  readonly id: string;
  /**
   * True when the app was already given the message: withdraw the notification if it is
   * still displayed. False: it was dropped before reaching the app, and will be if it comes.
   */
  readonly shown: boolean;
}

export interface DisconnectedEvent {
  /** BYE code from the gateway; absent when the socket just closed or never connected. */
  readonly code?: number;
  /** BYE reason, or the SDK's own: connect_timeout, heartbeat_timeout, socket error text... */
  readonly reason?: string;
  readonly willReconnect: boolean;
  /** Delay before the next attempt (0 when willReconnect is false). */
  readonly delayMs: number;
}

export interface StoppedEvent {
  /** 4006 (replaced by a newer session) or 4010 (app unknown or disabled). */
  readonly code: number;
  readonly reason?: string;
}

/** Event name -> payload, for PetrelClient.on/off/once/waitFor. */
export interface ClientEvents {
  connected: ConnectedEvent;
  registered: RegisteredEvent;
  notification: PushMessage;
  message: PushMessage;
  resync: ResyncEvent;
  revoked: RevokedEvent;
  disconnected: DisconnectedEvent;
  stopped: StoppedEvent;
  error: PetrelError;
}

export type Listener<T> = (payload: T) => void;

/**
 * Minimal typed emitter. Unlike node's EventEmitter, an 'error' with no listener is not
 * thrown: SDK errors are reports (a rejected request, a failed save), and throwing them
 * into the socket callbacks would crash an app that merely forgot a listener.
 */
export class TypedEmitter<E extends object> {
  // Created on first subscription: thousands of clients per process, most with few listeners.
  private listeners: Map<keyof E, Listener<never>[]> | null = null;

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    this.listeners ??= new Map();
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [listener]);
    else list.push(listener);
    return this;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners?.get(event);
    if (list === undefined) return this;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.listeners?.delete(event);
    return this;
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper: Listener<E[K]> = (payload) => {
      this.off(event, wrapper);
      listener(payload);
    };
    return this.on(event, wrapper);
  }

  /** Resolves with the next payload of `event`. */
  waitFor<K extends keyof E>(event: K): Promise<E[K]> {
    return new Promise((resolve) => this.once(event, resolve));
  }

  listenerCount(event: keyof E): number {
    return this.listeners?.get(event)?.length ?? 0;
  }

  /**
   * Calls every listener. A throwing listener does not stop the others or the SDK's own
   * processing (a PUSH must still be recorded and ACKed); it goes to onListenerError.
   */
  protected emit<K extends keyof E>(event: K, payload: E[K]): boolean {
    const list = this.listeners?.get(event);
    if (list === undefined) return false;
    // Copy: a once() wrapper removes itself while we iterate.
    for (const listener of list.slice() as Listener<E[K]>[]) {
      try {
        listener(payload);
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
    return true;
  }

  /** Default: surface as an uncaught exception, exactly as a throw in any callback would. */
  protected onListenerError(_event: keyof E, err: unknown): void {
    queueMicrotask(() => {
      throw err;
    });
  }
}
