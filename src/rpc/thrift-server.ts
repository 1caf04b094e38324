/**
 * A Thrift server for one generated service: framed transport, binary protocol, the
 * pairing every tier's client (rpc-pool.ts) speaks. Framing lets a reader know a
 * message's length before decoding it, and lets the server cap it.
 */

import type { AddressInfo, Server, Socket } from 'node:net';
import * as thrift from 'thrift';
import { withRpcErrors } from './rpc-errors.js';

/** What the generated module of a service exports for serving it (GatewayService, …). */
export interface ThriftService<H> {
  Processor: new (handler: H) => { process(input: thrift.TProtocol, output: thrift.TProtocol): void };
}

export interface ThriftServerOptions<H> {
  /** The generated service module, e.g. `GatewayService` from src/rpc/gen. */
  service: ThriftService<H>;
  /** Its methods may throw PetrelError; callers get the same code (rpc-errors.ts). */
  handler: NoInfer<H>;
  host: string;
  /** 0: an ephemeral port, see ThriftServer.port. */
  port: number;
  /**
   * Failures that belong to no call: a client's socket reset, an undecodable frame (that
   * connection is ended), a handler failure that was not a PetrelError.
   */
  onError?: (err: unknown, context: string) => void;
}

export interface ThriftServer {
  readonly host: string;
  /** The bound port (the ephemeral one when asked for port 0). */
  readonly port: number;
  /** Stops accepting, closes every client connection, resolves once the listener closed. */
  close(): Promise<void>;
}

export async function startThriftServer<H extends object>(options: ThriftServerOptions<H>): Promise<ThriftServer> {
  const onError = options.onError ?? (() => {});
  const handler = withRpcErrors(options.handler, (method, err) => onError(err, `handler ${method}`));
  // createServer is typed as returning an http.Server; it is the net.Server that
  // thrift's createMultiplexServer makes, which is all we use of it.
  const server: Server = thrift.createServer(options.service, handler, {
    transport: thrift.TFramedTransport,
    protocol: thrift.TBinaryProtocol,
  });
  // thrift re-emits every client socket's 'error' (ECONNRESET when a peer dies) and any
  // decode failure on the server: without a listener, one bad peer would crash us.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => onError(err, 'connection'));

  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    host: options.host,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() only stops accepting; persistent clients would keep it open forever.
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
