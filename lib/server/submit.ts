// How a route's request joins the batch queue: the one step /v2 inference and /v1/classify share, kept here so
// that neither route module imports the other.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Tensor } from '../tensor';
import type { Batcher, BatchResult } from './batcher';
import { CancelledError } from './errors';

/** Submits to the batcher with an AbortSignal that fires when the client's connection closes before the answer. */
export function submitWithDisconnect(
  batcher: Batcher<Tensor>,
  input: Tensor,
  samples: number,
  timeoutMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<BatchResult> {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort();
  };
  reply.raw.on('close', onClose);
  return batcher
    .submit(input, samples, timeoutMs, controller.signal)
    .catch((error: Error) => {
      if (error instanceof CancelledError) request.outcome = 'cancelled';
      throw error;
    })
    .finally(() => reply.raw.off('close', onClose));
}
