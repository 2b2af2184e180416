// vitorch/server: the inference server over HTTP and gRPC (fastify, pino, prom-client and grpc-js come with it). A
// separate entry, so that require('vitorch') for a forward pass does not load them; the root's createServer loads
// this on first call.
export { createServer } from './app';
export { Batcher } from './batcher';
export type { BatcherOptions, BatchResult, BatchRunner } from './batcher';
export { listenGrpc } from './grpc/listen';
export type { GrpcListenOptions } from './grpc/listen';
export { handleShutdownSignals } from './lifecycle';
export type { Phase, ServerLifecycle, SignalOptions } from './lifecycle';
export type { ServerOptions } from './options';
