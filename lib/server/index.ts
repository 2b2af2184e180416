// vitorch/server: the inference server over HTTP and gRPC (fastify, pino and prom-client come with it; grpc-js
// with listenGrpc). A separate entry, so that require('vitorch') for a forward pass does not load them; the root's
// createServer loads this on first call.
export { createServer } from './app';
export { Batcher } from './batcher';
export type { BatcherOptions, BatchResult, BatchRunner } from './batcher';
// grpc-js and protobufjs (some 130 modules) load on listenGrpc's first call, not with the HTTP server.
export const listenGrpc: typeof import('./grpc/listen').listenGrpc = (app, options) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on the first call, not with the server
  (require('./grpc/listen') as typeof import('./grpc/listen')).listenGrpc(app, options);
export type { GrpcListenOptions } from './grpc/listen';
export { handleShutdownSignals } from './lifecycle';
export type { Phase, ServerLifecycle, SignalOptions } from './lifecycle';
export type { ServerOptions } from './options';
