/** A tenant: one mobile app, with the client key that ships inside it. */
export interface App {
  readonly id: string;
  readonly name: string;
  /** Shipped in the app binary; proves a REGISTER comes from this app's SDK, not a secret. */
  readonly clientKey: string;
  readonly status: 'active' | 'disabled';
  readonly createdAt: number;
  /**
   * Concurrent device sessions the app may hold, in place of the gateways'
   * `limits.sessionsPerApp` (0: no limit for this app). Absent: the gateways' setting.
   */
  readonly maxSessions?: number;
}

/** What may be shown of a server secret: never the secret, never its hash. */
export interface ServerSecretInfo {
  /** `sk_…`, stable, for listing and revoking. */
  readonly id: string;
  readonly createdAt: number;
  /** When a rotation retires it (unix ms); null while it has no end. */
  readonly expiresAt: number | null;
}

/** A registered device, as the store keeps it. The secret is not here (device-secret.ts). */
export interface Device {
  readonly id: string;
  readonly appId: string;
  /** Secret generation: bumped to invalidate the current secret. */
  readonly gen: number;
  readonly status: 'active' | 'invalid';
  readonly pkg: string;
  readonly createdAt: number;
}
