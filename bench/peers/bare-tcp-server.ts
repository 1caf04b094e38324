/**
 * The floor: a plain node:net server that accepts sockets and holds them, reading and
 * discarding. What Node itself costs per idle socket, for the idle-connection ratio.
 */
import net from 'node:net';

const port = Number(process.env['PORT'] ?? 7000);
const sockets = new Set<net.Socket>();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
});
server.listen({ port, host: '127.0.0.1', backlog: 4096 });
process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  server.close(() => process.exit(0));
});
