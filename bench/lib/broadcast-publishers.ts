/**
 * How the broadcast benchmark hands each system one broadcast: Petrel through its HTTP API
 * (`POST /v1/messages` to a topic or the whole app, answered 202 once stored), an MQTT
 * broker through a publisher client (PUBLISH QoS 1 to the shared topic, answered PUBACK).
 * Every broadcast carries `{s, p}`: the time it was due (open loop) and its phase, which
 * the swarm's recorder reads on every device.
 */
import { nowMs } from './latency.js';
import { MqttPublisher } from './mqtt-client.js';

export interface BroadcastPublisher {
  /** Sends one broadcast; resolves when the system accepted it, with its message id (Petrel) or null. */
  publish(phase: string, due: number): Promise<string | null>;
  close(): void;
}

export type PetrelAudience = { topic: string } | { all: true };

export class PetrelPublisher implements BroadcastPublisher {
  constructor(
    private readonly baseUrl: string,
    private readonly serverSecret: string,
    private readonly to: PetrelAudience,
    private readonly ttlSec = 600,
  ) {}

  async publish(phase: string, due: number): Promise<string | null> {
    const res = await fetch(`${this.baseUrl}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.serverSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: this.to, data: { s: due, p: phase }, ttl: this.ttlSec }),
    });
    const body = await res.text();
    if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${body}`);
    return (JSON.parse(body) as { id: string }).id;
  }

  close(): void {}
}

export class MqttBroadcastPublisher implements BroadcastPublisher {
  private constructor(private readonly client: MqttPublisher, private readonly topic: string) {}

  static async connect(port: number, topic: string): Promise<MqttBroadcastPublisher> {
    return new MqttBroadcastPublisher(await MqttPublisher.connect('127.0.0.1', port, `bench-publisher-${process.pid}`), topic);
  }

  async publish(phase: string, due: number): Promise<string | null> {
    await this.client.publish(this.topic, Buffer.from(JSON.stringify({ s: due, p: phase })));
    return null;
  }

  close(): void {
    this.client.close();
  }
}

export interface PacedPublish {
  /** Unix ms (sub-ms digits) the first broadcast was due. */
  startedAt: number;
  /** Message ids (Petrel) in order. */
  ids: string[];
  accepted: number;
  failures: string[];
  /** Due → accepted, ms, per broadcast. */
  acceptMs: number[];
  /** How far behind its schedule the publisher was at worst, ms. */
  maxLagMs: number;
}

/**
 * `count` broadcasts at `perSecond`, open loop: broadcast i is due at start + i / perSecond
 * whatever the system answers, and carries that due time.
 */
export async function publishPaced(pub: BroadcastPublisher, phase: string, count: number, perSecond: number): Promise<PacedPublish> {
  const startedAt = nowMs();
  const intervalMs = 1000 / perSecond;
  const ids: Array<string | null> = new Array<string | null>(count).fill(null);
  const acceptMs: number[] = [];
  const failures: string[] = [];
  let maxLagMs = 0;
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const due = startedAt + i * intervalMs;
    const wait = due - nowMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    maxLagMs = Math.max(maxLagMs, nowMs() - due);
    pending.push(pub.publish(phase, due).then(
      (id) => {
        ids[i] = id;
        acceptMs.push(nowMs() - due);
      },
      (err: unknown) => {
        failures.push(String((err as Error).message ?? err));
      },
    ));
  }
  await Promise.all(pending);
  return {
    startedAt,
    ids: ids.filter((id): id is string => id !== null),
    accepted: acceptMs.length,
    failures,
    acceptMs,
    maxLagMs: Number(maxLagMs.toFixed(1)),
  };
}
