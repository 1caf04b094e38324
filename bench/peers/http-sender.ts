/**
 * The app server of the unicast benchmark: its own process, posting POST /v1/messages over
 * keep-alive connections. Driven over IPC:
 *   parent → {cmd:'init', ...SenderInit}   sender → {ev:'ready'}
 *   parent → {cmd:'run', ...SendRun}       sender → {ev:'ran', ...SendReport}
 *   parent → {cmd:'stop'}                  sender exits
 *
 * Open loop: request i of a run is due at start + i/rate, whatever the service answers,
 * and its messages carry that due time in `data.s` (unix ms with sub-millisecond digits),
 * so a receiver's latency includes any wait the sender itself was put through (no
 * coordinated omission). Targets go round-robin over the devices so each gets the same
 * share. A run may name aliases instead of devices, and send `batch` messages per
 * request through POST /v1/messages/batch (the accept-rate bench).
 *
 * With `transport: 'mqtt'` the same schedule drives an MQTT broker instead, for the peers
 * of the unicast benchmark: each message is a QoS 1 PUBLISH of `{"s","p"}` to the topic
 * `u/<target>` (a topic per subscriber), over `connections` publisher connections, and
 * its PUBACK counts as the 202 (the broker took responsibility for it).
 */
import http from 'node:http';
import { encodeHistogram, latencyHistogram, nowMs } from '../lib/latency.js';
import { MqttPublisher } from '../lib/mqtt-client.js';

export interface SenderInit {
  host: string;
  port: number;
  serverSecret: string;
  /** Device ids the runs target in turn (unless a run names its own). */
  devices: string[];
  /** Keep-alive connections to the API (MQTT: publisher connections). */
  connections: number;
  /** http (default): Petrel's API; mqtt: a broker on host:port (serverSecret unused). */
  transport?: 'http' | 'mqtt';
}

export interface SendRun {
  phase: string;
  /** Messages per second. */
  rate: number;
  /** Either a duration or a message count. */
  durationMs?: number;
  count?: number;
  /** Overrides the round-robin over `devices`. */
  targets?: string[];
  /** Requests waiting for their answer beyond which the sender stops issuing (and falls behind). */
  maxOutstanding?: number;
  /** What the targets name: device ids (the default) or aliases. */
  kind?: 'devices' | 'aliases';
  /** Messages per request, sent to POST /v1/messages/batch; `rate` and `count` are then requests. */
  batch?: number;
}

export interface SendReport {
  phase: string;
  rate: number;
  /** Messages the run was to send, issued, answered 202, answered otherwise or failed. */
  planned: number;
  issued: number;
  accepted: number;
  rejected: number;
  /** Messages the 202 answers accepted (one per single send; a batch's `accepted`). */
  messagesAccepted: number;
  /** Status codes (or error codes) of what was not 202, with counts. */
  failures: Record<string, number>;
  /** Unix ms: the run's start (message 0 due), last message issued, last answer. */
  startedAt: number;
  lastIssuedAt: number;
  answeredAt: number;
  /** How far behind its schedule the sender was at worst, ms. */
  maxLagMs: number;
  /** Issued messages / (last issued − start): what the sender achieved. */
  issueRate: number;
  /** Due time → 202 received, µs, HDR histogram (compressed base64). */
  acceptHistogram: string;
}

let init: SenderInit | null = null;
let agent: http.Agent | null = null;
let publishers: MqttPublisher[] = [];
let cursor = 0;

/** What one request carries: its path and JSON body. */
interface Post {
  path: string;
  body: string;
}

function messageJson(kind: 'devices' | 'aliases', target: string, phase: string, due: number): string {
  return `{"to":{"${kind}":["${target}"]},"data":{"s":${due},"p":"${phase}"}}`;
}

/** A batch answer starts `{"accepted":N,` (messages-router.ts); the rest is not read. */
const BATCH_ACCEPTED = /^\{"accepted":(\d+)/;

let nextPublisher = 0;

/** One message as a QoS 1 PUBLISH to the target's own topic; its PUBACK answers like a 202. */
function publish(target: string, phase: string, due: number, done: (status: string, firstChunk: string) => void): void {
  const publisher = publishers[nextPublisher++ % publishers.length]!;
  publisher.publish(`u/${target}`, Buffer.from(`{"s":${due},"p":"${phase}"}`)).then(() => done('202', ''), () => done('publish_error', ''));
}

function post(p: Post, done: (status: string, firstChunk: string) => void, retried = false): void {
  const { body } = p;
  let first = '';
  const req = http.request(
    {
      host: init!.host,
      port: init!.port,
      method: 'POST',
      path: p.path,
      agent: agent!,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        authorization: `Bearer ${init!.serverSecret}`,
      },
    },
    (res) => {
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => {
        if (first === '') first = chunk;
      });
      res.on('end', () => done(String(res.statusCode), first));
      res.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'response_error', ''));
    },
  );
  req.on('error', (err: NodeJS.ErrnoException) => {
    // A kept-alive socket the server closed while idle (its keep-alive timeout) just as we
    // reused it: the request was never read, so sending it again is safe (Node's own advice).
    if (req.reusedSocket && err.code === 'ECONNRESET' && !retried) post(p, done, true);
    else done(err.code ?? 'request_error', '');
  });
  req.end(body);
}

function run(r: SendRun): Promise<SendReport> {
  const planned = r.count ?? Math.round((r.rate * (r.durationMs ?? 0)) / 1000);
  const maxOutstanding = r.maxOutstanding ?? 4096;
  const intervalMs = 1000 / r.rate;
  const targets = r.targets ?? init!.devices;
  const accept = latencyHistogram();
  const failures: Record<string, number> = {};
  const startedAt = nowMs();
  let issued = 0;
  let answered = 0;
  let accepted = 0;
  let messagesAccepted = 0;
  const kind = r.kind ?? 'devices';
  let lastIssuedAt = startedAt;
  let maxLagMs = 0;
  return new Promise((resolve) => {
    const finish = () => {
      const answeredAt = nowMs();
      const elapsed = lastIssuedAt - startedAt;
      resolve({
        phase: r.phase,
        rate: r.rate,
        planned,
        issued,
        accepted,
        rejected: answered - accepted,
        messagesAccepted,
        failures,
        startedAt,
        lastIssuedAt,
        answeredAt,
        maxLagMs: Number(maxLagMs.toFixed(2)),
        // n messages span n − 1 intervals.
        issueRate: issued > 1 && elapsed > 0 ? Math.round(((issued - 1) * 1000) / elapsed) : issued,
        acceptHistogram: encodeHistogram(accept),
      });
      accept.destroy();
    };
    const tick = () => {
      const now = nowMs();
      const due = Math.min(planned, Math.floor((now - startedAt) / intervalMs) + 1);
      const before = issued;
      while (issued < due && issued - answered < maxOutstanding) {
        const dueAt = startedAt + issued * intervalMs;
        maxLagMs = Math.max(maxLagMs, now - dueAt);
        const next = () => (r.targets ? targets[(issued * (r.batch ?? 1) + k++) % targets.length]! : targets[cursor++ % targets.length]!);
        let k = 0;
        issued++;
        const answer = (status: string, first: string) => {
          answered++;
          if (status === '202') {
            accepted++;
            messagesAccepted += r.batch === undefined ? 1 : Number(BATCH_ACCEPTED.exec(first)?.[1] ?? 0);
            accept.recordValue(Math.max(1, Math.round((nowMs() - dueAt) * 1000)));
          } else {
            failures[status] = (failures[status] ?? 0) + 1;
          }
          if (answered === planned) finish();
        };
        if (publishers.length > 0) {
          publish(next(), r.phase, dueAt, answer);
          continue;
        }
        const request: Post = r.batch === undefined
          ? { path: '/v1/messages', body: messageJson(kind, next(), r.phase, dueAt) }
          : { path: '/v1/messages/batch', body: `{"messages":[${Array.from({ length: r.batch }, () => messageJson(kind, next(), r.phase, dueAt)).join(',')}]}` };
        post(request, answer);
      }
      if (issued > before) lastIssuedAt = now;
      // Asleep until the next message is due (timers have millisecond resolution).
      if (issued < planned) setTimeout(tick, Math.max(0, Math.floor(startedAt + issued * intervalMs - nowMs())));
    };
    if (planned === 0) finish();
    else tick();
  });
}

process.on('message', (msg: ({ cmd: 'init' } & SenderInit) | ({ cmd: 'run' } & SendRun) | { cmd: 'stop' }) => {
  if (msg.cmd === 'init') {
    init = msg;
    if (msg.transport === 'mqtt') {
      void Promise.all(Array.from({ length: msg.connections }, (_, i) => MqttPublisher.connect(msg.host, msg.port, `bench-sender-${process.pid}-${i}`))).then((made) => {
        publishers = made;
        process.send!({ ev: 'ready' });
      });
      return;
    }
    agent = new http.Agent({ keepAlive: true, maxSockets: msg.connections, maxFreeSockets: msg.connections });
    process.send!({ ev: 'ready' });
  } else if (msg.cmd === 'run') {
    void run(msg).then((report) => process.send!({ ev: 'ran', ...report }));
  } else {
    agent?.destroy();
    for (const pub of publishers) pub.close();
    process.exit(0);
  }
});
process.send!({ ev: 'started' });
