/**
 * The floor: a plain node:net server that holds sockets, answering each one's first
 * bytes with a WELCOME-sized reply. What Node itself costs per idle socket that did a
 * handshake, for the idle-connection ratio.
 */
import net from 'node:net';

const port = Number(process.env['PORT'] ?? 7000);
const sockets = new Set<net.Socket>();
const WELCOME_BYTES = Buffer.alloc(60, 2);
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.once('data', () => socket.write(WELCOME_BYTES));
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
});
server.listen({ port, host: '0.0.0.0', backlog: 4096 });
process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  server.close(() => process.exit(0));
});
