import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './proc.js';
import { moduleCommand, waitForPort } from './service-process.js';

/** An MQTT broker the broadcast benchmark compares Petrel with, running as its own process. */
export interface MqttBroker {
  name: 'mosquitto' | 'aedes';
  port: number;
  pid: number;
  stop(): Promise<void>;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of Debian's mosquitto, installing the package when we run as root (as `npm start` does for redis-server). */
export function ensureMosquitto(log: (text: string) => void): string {
  const override = process.env['BENCH_MOSQUITTO_BIN'];
  if (override) {
    if (!executable(override)) throw new Error(`BENCH_MOSQUITTO_BIN=${override} is not an executable file`);
    return override;
  }
  const candidates = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/bin/mosquitto'];
  const found = candidates.find(executable);
  if (found) return found;
  if (process.getuid?.() !== 0 || !executable('/usr/bin/apt-get')) {
    throw new Error(
      'mosquitto not found: install it (Debian/Ubuntu: sudo apt-get install mosquitto) or set BENCH_MOSQUITTO_BIN, ' +
        'or leave it out with BENCH_SYSTEMS=petrel,aedes',
    );
  }
  log('mosquitto not found; installing the Debian package (apt-get install -y mosquitto)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['-q', 'update'], { env, stdio: 'inherit' });
  execFileSync('apt-get', ['-q', 'install', '-y', 'mosquitto'], { env, stdio: 'inherit' });
  const installed = candidates.find(executable);
  if (!installed) throw new Error('apt-get installed mosquitto but no mosquitto binary was found');
  return installed;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
}

/**
 * mosquitto on a private port with a generated config: anonymous clients, no
 * persistence (the non-durable variant: Petrel's broadcasts are in Redis, so this flatters
 * the peer), its default in-flight (20) and queue (1,000) limits per client, and no $SYS
 * updates.
 */
export async function startMosquitto(bin: string, port: number, dir: string): Promise<MqttBroker> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [
    `listener ${port} 0.0.0.0`,
    'allow_anonymous true',
    'persistence false',
    'max_connections -1',
    'max_inflight_messages 20',
    'max_queued_messages 1000',
    'sys_interval 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n'));
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child);
  return { name: 'mosquitto', port, pid: child.pid!, stop: stopper(child) };
}

/**
 * aedes in its own process (bench/peers/aedes-broker.ts); with `redisUrl`, its durable
 * variant (aedes-persistence-redis on that Redis).
 */
export async function startAedes(port: number, nodeArgs: string[] = [], redisUrl?: string): Promise<MqttBroker> {
  const { file, execArgv } = moduleCommand('bench/peers/aedes-broker');
  const env = { ...process.env, PORT: String(port), ...(redisUrl ? { AEDES_REDIS_URL: redisUrl } : {}) };
  const child = spawn(process.execPath, [...nodeArgs, ...execArgv, file], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  await waitForPort(port, child);
  return { name: 'aedes', port, pid: child.pid!, stop: stopper(child) };
}
