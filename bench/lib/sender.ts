import { fork, type ChildProcess } from 'node:child_process';
import type { SenderInit, SendReport, SendRun } from '../peers/http-sender.js';
import { moduleCommand } from './service-process.js';

/** The app server (load generator, bench/peers/http-sender.ts) as its own process, driven over IPC. */
export class Sender {
  private constructor(private readonly child: ChildProcess) {}

  static async start(init: SenderInit): Promise<Sender> {
    const { file, execArgv } = moduleCommand('bench/peers/http-sender');
    const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`http sender exited with ${code}`)));
    });
    const sender = new Sender(child);
    await sender.ask({ cmd: 'init', ...init });
    return sender;
  }

  get pid(): number {
    return this.child.pid!;
  }

  run(r: SendRun): Promise<SendReport> {
    return this.ask({ cmd: 'run', ...r }) as Promise<SendReport>;
  }

  stop(): void {
    this.child.send({ cmd: 'stop' });
  }

  private ask(msg: object): Promise<unknown> {
    return new Promise((resolve) => {
      this.child.once('message', resolve);
      this.child.send(msg);
    });
  }
}
