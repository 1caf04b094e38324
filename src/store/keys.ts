/**
 * Every Redis key Petrel writes, built in one place. `{…}` hash tags put all keys of one
 * device (or one app) in the same Redis Cluster slot, so multi-key scripts stay legal
 * when the deployment moves from one node to a cluster.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** Hash: name, clientKey, status, createdAt, serverSecretHash. */
  app(appId: string): string {
    return `${this.prefix}app:{${appId}}`;
  }

  /** Set of all app ids (admin listing). */
  apps(): string {
    return `${this.prefix}apps`;
  }

  /** Hash: app, gen, status, pkg, createdAt. Never the secret (domain/device-secret.ts). */
  device(deviceId: string): string {
    return `${this.prefix}dev:{${deviceId}}`;
  }

  /** String with a TTL: a HELLO nonce seen recently for this device (replay cache). */
  helloNonce(deviceId: string, nonce: string): string {
    return `${this.prefix}nonce:{${deviceId}}:${nonce}`;
  }

  /** Set: topics one device subscribed to. */
  deviceTopics(deviceId: string): string {
    return `${this.prefix}dev-topics:{${deviceId}}`;
  }

  /** Set: device ids subscribed to one topic of one app. */
  topicSubscribers(appId: string, topic: string): string {
    return `${this.prefix}topic:{${appId}}:${topic}`;
  }
}
