import http from 'node:http';

/**
 * The GC hook the idle benchmark reads RSS after, like the gateway's ops endpoint: a POST
 * to `port` (loopback) runs a full GC when the process was started with --expose-gc.
 * Shared by the peer servers (bare node:net floor, aedes).
 */
export function serveGc(port: number): http.Server {
  const gc = (globalThis as { gc?: () => void }).gc;
  const ops = http.createServer((_req, res) => {
    if (gc) {
      gc();
      gc();
    }
    res.end('{}');
  });
  ops.listen(port, '127.0.0.1');
  return ops;
}
