/**
 * aedes (an MQTT broker in Node) in its own process on node:net, as its README runs it:
 * default options, in-memory persistence and emitter. The broadcast benchmark's Node peer.
 * PORT: where it listens (all addresses); SIGTERM closes it.
 */
import net from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.env['PORT'] ?? 1883);
const broker = await Aedes.createBroker();
const sockets = new Set<net.Socket>();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  broker.handle(socket);
});
// Same backlog as the bare floor server: the swarm opens hundreds of connections at once.
server.listen({ port, host: '0.0.0.0', backlog: 4096 });
process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
