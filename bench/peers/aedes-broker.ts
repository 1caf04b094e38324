/**
 * aedes (an MQTT broker in Node) in its own process on node:net, as its README runs it:
 * default options, in-memory persistence and emitter. The broadcast benchmark's Node peer.
 * AEDES_REDIS_URL: its durable variant instead, with aedes-persistence-redis on that Redis
 * (sessions, subscriptions and QoS 1 messages in flight stored there, as Petrel stores
 * every message before its 202).
 * PORT: where it listens (all addresses); PORT + 1 (loopback): POST runs a full GC when
 * started with --expose-gc. SIGTERM closes it.
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import redisPersistence from 'aedes-persistence-redis';
import { serveGc } from './gc-endpoint.js';

const port = Number(process.env['PORT'] ?? 1883);
const redisUrl = process.env['AEDES_REDIS_URL'];
const broker = await Aedes.createBroker(redisUrl ? { persistence: redisPersistence(redisOptions(redisUrl)) } : {});

/** ioredis options of a redis://host:port/db URL. */
function redisOptions(url: string): { host: string; port: number; db: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0) };
}
const sockets = new Set<net.Socket>();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  broker.handle(socket);
});
// Same backlog as the bare floor server: the swarm opens hundreds of connections at once.
server.listen({ port, host: '0.0.0.0', backlog: 4096 });
// A full GC on POST to PORT + 1: the idle benchmark reads RSS after it.
const ops = serveGc(port + 1);
process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  ops.close();
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
