// listenGrpc(app, { host, port }): the server createServer made, also over gRPC (Triton's
// inference.GRPCInferenceService, service.ts) on a port of its own, Triton's 8001 by default. It shares everything
// with the HTTP side: the lifecycle, the models and their queues, the metrics and the log. app.close() shuts it down
// too, once its calls in flight are answered (grpc-js's tryShutdown); after drain(), new calls get UNAVAILABLE.
import { Server, ServerCredentials, setLogger } from '@grpc/grpc-js';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { expected } from '../../validate';
import { inferenceService } from './protos';
import { serviceImplementation } from './service';

export interface GrpcListenOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 8001 (Triton's); 0 for any free port. */
  port?: number;
}

export const DEFAULT_GRPC_PORT = 8001;

/** Starts answering gRPC on `host`:`port`; resolves to the port bound (the one chosen, for port 0). */
export async function listenGrpc(app: FastifyInstance, options: GrpcListenOptions = {}): Promise<number> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_GRPC_PORT;
  if (typeof host !== 'string' || host === '') throw new TypeError(expected('a host name or address', 'host', host));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(expected('a port number (0 for any free port)', 'port', port));
  }
  const lifecycle = app.vitorch;
  if (lifecycle.phase === 'closed') throw new Error('the server is closed: listenGrpc needs one that is not');
  const definition = inferenceService();
  // A request as large as HTTP takes (bodyLimit); grpc-js answers RESOURCE_EXHAUSTED beyond it.
  const server = new Server({ 'grpc.max_receive_message_length': lifecycle.options.bodyLimit });
  server.addService(definition, serviceImplementation(app, definition));
  const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, chosen) => {
      if (error) {
        server.forceShutdown();
        // grpc-js wraps the operating system's reason ("No address added ... errors: [listen EADDRINUSE ...]").
        const reason = /errors: \[(.+)\]$/.exec(error.message)?.[1] ?? error.message;
        reject(new Error(`cannot listen for gRPC on ${address}: ${reason}`));
      } else resolve(chosen);
    });
  });
  lifecycle.attach(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  app.log.info({ grpc: `${host}:${bound}` }, 'gRPC listening');
  return bound;
}

/** grpc-js's own lines (its errors go to stderr by default), process-wide, into `log` as JSON lines: for a process
 *  that is the server (vitorch serve), whose operator reads stderr for the lines it says itself. */
export function logGrpcTo(log: FastifyBaseLogger): void {
  const line = (args: unknown[]) => args.map(String).join(' ');
  setLogger({
    error: (...args: unknown[]) => log.warn({ grpc: 'grpc-js' }, line(args)),
    info: (...args: unknown[]) => log.info({ grpc: 'grpc-js' }, line(args)),
    debug: (...args: unknown[]) => log.debug({ grpc: 'grpc-js' }, line(args)),
  });
}
