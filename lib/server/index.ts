// vitorch/server: the HTTP inference server (fastify, pino and prom-client come with it). A separate entry, so
// that require('vitorch') for a forward pass does not load them; the root's createServer loads this on first call.
export { createServer } from './app';
export { Batcher } from './batcher';
export type { BatcherOptions, BatchResult, BatchRunner } from './batcher';
export { handleShutdownSignals } from './lifecycle';
export type { Phase, ServerLifecycle, SignalOptions } from './lifecycle';
export type { ServerOptions } from './options';
