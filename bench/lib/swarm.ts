import { fork, type ChildProcess } from 'node:child_process';
import { cpuSeconds } from './proc.js';
import { moduleCommand } from './service-process.js';
import type { PhaseSample, SwarmDevice, SwarmPlan, SwarmReport, SwarmStatus } from './device-swarm.js';

export interface SwarmResult {
  connected: number;
  failed: number;
  /** From the first handshake started to the last one finished, across all workers. */
  seconds: number;
  perSecond: number;
}

/** Several client processes (open-file cap: ~19,900 sockets each), each dialling its own loopback address. */
export class Swarm {
  private constructor(private readonly workers: ChildProcess[]) {}

  static async start(processes: number): Promise<Swarm> {
    const { file, execArgv } = moduleCommand('bench/lib/device-swarm');
    const workers = await Promise.all(
      Array.from({ length: processes }, () => {
        const child = fork(file, [], { execArgv: [...execArgv, '--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        return new Promise<ChildProcess>((resolve, reject) => {
          child.once('message', () => resolve(child));
          child.once('exit', (code) => reject(new Error(`swarm worker exited with ${code}`)));
        });
      }),
    );
    return new Swarm(workers);
  }

  /**
   * Splits devices (or a bare socket / MQTT client count) over the workers; resolves when
   * all are done. `ports`: several gateways, worker i dialling ports[i % ports.length].
   */
  async connect(base: Omit<SwarmPlan, 'devices' | 'count' | 'host'>, devices: SwarmDevice[], count = devices.length, ports: number[] = [base.port]): Promise<SwarmResult> {
    const n = this.workers.length;
    const reports = await Promise.all(
      this.workers.map((worker, i) => {
        const plan: SwarmPlan = {
          ...base,
          devices: devices.filter((_, j) => j % n === i),
          count: Math.floor(count / n) + (i < count % n ? 1 : 0),
          host: `127.0.0.${2 + i}`,
          port: ports[i % ports.length]!,
          clientIdPrefix: `${base.clientIdPrefix ?? 'b'}w${i}-`,
        };
        return new Promise<SwarmReport>((resolve) => {
          worker.once('message', (m: SwarmReport) => resolve(m));
          worker.send({ cmd: 'connect', plan });
        });
      }),
    );
    const connected = reports.reduce((s, r) => s + r.connected, 0);
    const failed = reports.reduce((s, r) => s + r.failed, 0);
    const seconds = (Math.max(...reports.map((r) => r.doneAt)) - Math.min(...reports.map((r) => r.startedAt))) / 1000;
    return { connected, failed, seconds, perSecond: connected / seconds };
  }

  /**
   * What every worker's devices received per phase since the last collect (workers with
   * `record` plans only); one sample per worker and phase.
   */
  async collect(): Promise<PhaseSample[]> {
    const replies = await this.ask<{ phases: PhaseSample[] }>('collect');
    return replies.flatMap((r) => r.phases);
  }

  /** The 'sdk' devices of all workers now (SwarmStatus), summed; collects nothing. */
  async status(): Promise<SwarmStatus> {
    const sum: SwarmStatus = { online: 0, reconnects: 0, lastConnectedAt: 0, ends: {}, shown: {}, offline: [] };
    for (const r of await this.ask<SwarmStatus>('status')) {
      sum.online += r.online;
      sum.reconnects += r.reconnects;
      sum.lastConnectedAt = Math.max(sum.lastConnectedAt, r.lastConnectedAt);
      sum.offline.push(...r.offline);
      for (const [code, n] of Object.entries(r.ends)) sum.ends[code] = (sum.ends[code] ?? 0) + n;
      for (const [phase, s] of Object.entries(r.shown)) {
        const into = (sum.shown[phase] ??= { devices: 0, repeats: 0 });
        into.devices += s.devices;
        into.repeats += s.repeats;
      }
    }
    return sum;
  }

  /** Sends `cmd` to every worker and resolves with their replies, in worker order. */
  private ask<T>(cmd: 'collect' | 'status'): Promise<T[]> {
    return Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<T>((resolve) => {
            worker.once('message', (m: T) => resolve(m));
            worker.send({ cmd });
          }),
      ),
    );
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid!);
  }

  /** CPU seconds used so far by all client processes together. */
  cpuSeconds(): number {
    return this.workers.reduce((sum, w) => sum + cpuSeconds(w.pid!), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null) return resolve();
            w.once('exit', () => resolve());
            w.send({ cmd: 'stop' });
            setTimeout(() => w.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
  }
}
