import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import net from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';

/**
 * `petrel api` over several processes (`http.workers`): the API is stateless between
 * requests (everything lives in Redis), so N processes on one port accept about N times
 * what one event loop can, on a machine with the cores. node:cluster's primary owns the
 * listening socket and hands connections to the workers in turn; it serves nothing itself.
 *
 * The primary: forks the workers, prints the banner once all listen, re-forks one that
 * dies, stops them all on SIGINT/SIGTERM, and answers `/metrics` for all of them: a
 * scrape lands on one worker, which asks the primary, which asks every listening worker
 * for its registry and merges the answers. Each worker's series carry a `worker` label
 * (its cluster id, new for a re-forked worker): summed into one, a dead worker's share
 * would vanish and Prometheus would read the drop as a counter reset; sum by the other
 * labels for the whole API. A worker that does not answer in time is left out of that
 * scrape rather than failing it.
 */

/** One worker's registry as getMetricsAsJSON gives it (what AggregatorRegistry.aggregate merges). */
type RegistryJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** What a worker tells the primary. */
type WorkerMessage =
  | { petrel: 'ready'; lines: string[] }
  | { petrel: 'metrics'; id: number }
  | { petrel: 'registry'; id: number; metrics: RegistryJson };
/** What the primary tells a worker. */
type PrimaryMessage =
  | { petrel: 'stop' }
  | { petrel: 'metrics'; id: number; text?: string; error?: string }
  | { petrel: 'registry'; id: number };

/** A worker that dies this many times within RESTART_WINDOW_MS makes the primary give up (a crash loop, not a bad request). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MS = 1000;
/** Workers still running this long after a stop are killed. */
const STOP_TIMEOUT_MS = 30_000;
/** How long the primary waits for each worker's registry; the scraped worker waits longer for the merge. */
const REGISTRY_TIMEOUT_MS = 2000;
const METRICS_TIMEOUT_MS = 5000;
/** Set by the primary in its workers' environment: a cluster worker of someone else (pm2…) is not one of ours. */
const WORKER_ENV = 'PETREL_API_WORKER';

export const isApiWorker = (): boolean => cluster.isWorker && process.env[WORKER_ENV] === '1';

/**
 * Runs the primary until it stops: resolves with the first worker's banner lines once
 * every worker listens; rejects (once the others are gone) if one exits before that,
 * e.g. the port is taken. Exits the process itself when a stop completes, with 1 if a
 * worker did not stop cleanly.
 */
export async function runApiPrimary(workers: number, listen: { host: string; port: number }, log: Logger): Promise<string[]> {
  await canListen(listen);
  const ready = new Set<Worker>();
  const restarts: number[] = [];
  const registries = new RegistryRequests();
  let stopping = false;
  let started = false;

  return new Promise<string[]>((resolve, reject) => {
    /** Set when a worker failed to start: the promise rejects with it once all are gone, instead of the process exiting. */
    let failure: Error | null = null;
    /**
     * Stops every worker (one still starting is told when it reports ready) and, once all
     * are gone, exits or rejects; a worker still there after STOP_TIMEOUT_MS is killed.
     */
    const stopAll = (exitCode: number, startFailure: Error | null = null) => {
      if (stopping) return;
      stopping = true;
      failure = startFailure;
      process.exitCode = exitCode;
      for (const w of Object.values(cluster.workers ?? {})) if (w) send(w, { petrel: 'stop' });
      setTimeout(() => {
        log.warn('API workers still running after the stop timeout: killed');
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      }, STOP_TIMEOUT_MS).unref();
      exitWhenAllGone();
    };
    const exitWhenAllGone = () => {
      if (!stopping || Object.keys(cluster.workers ?? {}).length > 0) return;
      if (failure) reject(failure);
      else process.exit();
    };

    const fork = () => {
      const worker = cluster.fork({ [WORKER_ENV]: '1' });
      worker.on('message', (message: WorkerMessage) => {
        if (message?.petrel === 'ready') {
          ready.add(worker);
          if (stopping) return send(worker, { petrel: 'stop' });
          // The first worker to listen has made the primary bind the port; the others
          // are forked only now, so that they find the handle bound (node's cluster
          // primary mishandles a bind error that reaches several waiting workers).
          if (ready.size === 1 && !started && Object.keys(cluster.workers ?? {}).length === 1) for (let i = 1; i < workers; i++) fork();
          if (!started && ready.size === workers) {
            started = true;
            resolve(message.lines);
          }
        } else if (message?.petrel === 'metrics') {
          registries.merge([...ready]).then(
            (text) => send(worker, { petrel: 'metrics', id: message.id, text }),
            (err: Error) => send(worker, { petrel: 'metrics', id: message.id, error: err.message }),
          );
        } else if (message?.petrel === 'registry') {
          registries.answered(message.id, message.metrics);
        }
      });
      worker.on('exit', (code, signal) => {
        ready.delete(worker);
        if (stopping) {
          if (code !== 0 && !failure) {
            log.warn({ worker: worker.process.pid, code, signal }, 'API worker did not stop cleanly');
            process.exitCode = 1;
          }
          return exitWhenAllGone();
        }
        if (!started) return stopAll(1, new Error(`an API worker exited (${signal ?? `code ${code}`}) before listening; its log says why`));
        const now = Date.now();
        restarts.push(now);
        while (restarts.length > 0 && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
        if (restarts.length > MAX_RESTARTS) {
          log.error({ restarts: restarts.length }, 'API workers keep dying: stopping');
          return stopAll(1);
        }
        log.error({ worker: worker.process.pid, code, signal }, 'API worker died: starting another');
        setTimeout(() => { if (!stopping) fork(); }, RESTART_DELAY_MS);
      });
    };

    let signals = 0;
    const onSignal = (signal: string) => {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: killing the API workers');
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
        process.exit(1);
      }
      log.info({ signal }, 'shutting down the API workers');
      stopAll(0);
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    fork();
  });
}

/** The primary's side of a scrape: every listening worker's registry, merged; whoever does not answer in time is left out. */
class RegistryRequests {
  private nextId = 0;
  private readonly waiting = new Map<number, (metrics: RegistryJson) => void>();

  async merge(workers: readonly Worker[]): Promise<string> {
    const answers = await Promise.all(workers.map((w) => this.ask(w)));
    return AggregatorRegistry.aggregate(answers.filter((a): a is RegistryJson => a !== null)).metrics();
  }

  answered(id: number, metrics: RegistryJson): void {
    this.waiting.get(id)?.(metrics);
  }

  private ask(worker: Worker): Promise<RegistryJson | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), REGISTRY_TIMEOUT_MS);
      const done = (metrics: RegistryJson | null) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(metrics);
      };
      this.waiting.set(id, done);
      send(worker, { petrel: 'registry', id });
    });
  }
}

/**
 * Fails with the bind's error (EADDRINUSE…) if the port cannot be listened on. In the
 * workers that error would crash node 20's cluster primary from inside its round-robin
 * handle (an 'error' event nobody listens to), with a stack trace instead of a message.
 */
async function canListen({ host, port }: { host: string; port: number }): Promise<void> {
  const probe = net.createServer();
  probe.listen({ host, port, exclusive: true });
  await once(probe, 'listening');
  await new Promise((resolve) => probe.close(resolve));
}

function send(worker: Worker, message: PrimaryMessage): void {
  // A worker that just died may still be listed: its channel is closed, nothing to tell it.
  if (worker.isConnected()) worker.send(message);
}

/**
 * The worker's side: its series get a `worker` label, `/metrics` asks the primary for
 * every worker's, and the primary's stop runs `stop`. (A worker whose primary died exits
 * by itself: node:cluster ends a worker whose IPC channel closes unexpectedly.)
 */
export function apiWorker(registry: Registry, stop: () => void): {
  metrics: Pick<Registry, 'contentType' | 'metrics'>;
  announce(lines: string[]): void;
} {
  registry.setDefaultLabels({ worker: String(cluster.worker?.id ?? process.pid) });
  const pending = new Map<number, { resolve(text: string): void; reject(err: Error): void }>();
  let nextId = 0;
  process.on('message', (message: PrimaryMessage) => {
    if (message?.petrel === 'stop') stop();
    else if (message?.petrel === 'registry') {
      void registry.getMetricsAsJSON().then((metrics) => process.send!({ petrel: 'registry', id: message.id, metrics } satisfies WorkerMessage));
    } else if (message?.petrel === 'metrics') {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(`metrics of the API workers: ${message.error}`));
      else waiter?.resolve(message.text ?? '');
    }
  });
  return {
    metrics: {
      contentType: registry.contentType,
      metrics: () =>
        new Promise<string>((resolve, reject) => {
          const id = nextId++;
          const timer = setTimeout(() => {
            pending.delete(id);
            reject(new Error('metrics of the API workers: the primary did not answer'));
          }, METRICS_TIMEOUT_MS);
          pending.set(id, {
            resolve: (text) => { clearTimeout(timer); resolve(text); },
            reject: (err) => { clearTimeout(timer); reject(err); },
          });
          process.send!({ petrel: 'metrics', id } satisfies WorkerMessage);
        }),
    },
    announce(lines) {
      process.send!({ petrel: 'ready', lines } satisfies WorkerMessage);
    },
  };
}
