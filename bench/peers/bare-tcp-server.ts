/**
 * The floor: a plain node:net server that holds sockets, answering each one's first
 * bytes with a WELCOME-sized reply and every later write with a PONG-sized one. What Node
 * itself costs per idle, heartbeating socket, for the idle-connection ratios.
 */
import net from 'node:net';
import { serveGc } from './gc-endpoint.js';

const port = Number(process.env['PORT'] ?? 7000);
const sockets = new Set<net.Socket>();
const WELCOME_BYTES = Buffer.alloc(60, 2);
const PONG_BYTES = Buffer.alloc(5, 6);
const server = net.createServer((socket) => {
  sockets.add(socket);
  let greeted = false;
  socket.on('data', () => {
    socket.write(greeted ? PONG_BYTES : WELCOME_BYTES);
    greeted = true;
  });
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
});
server.listen({ port, host: '0.0.0.0', backlog: 4096 });
// Same GC hook as the gateway's ops endpoint (run with --expose-gc), on PORT + 1.
const ops = serveGc(port + 1);
process.on('SIGTERM', () => {
  ops.close();
  for (const s of sockets) s.destroy();
  server.close(() => process.exit(0));
});
