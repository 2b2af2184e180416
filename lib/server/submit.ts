// How an HTTP route runs an inference (inference.ts): the one step /v2 inference and /v1/classify share, kept here
// so that neither route module imports the other. The request's whole time counts from its arrival, and a client
// that disconnects while its request is queued takes it out of the queue.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BatchResult } from './batcher';
import { CancelledError } from './errors';
import { runInference } from './inference';
import type { InferenceCall } from './inference';
import type { Serving } from './model-repository';

export async function inferOverHttp<T>(
  serving: Serving,
  request: FastifyRequest,
  reply: FastifyReply,
  call: Omit<InferenceCall<T>, 'signal' | 'receivedNs'>,
): Promise<{ answer: T; result: BatchResult }> {
  // fastify timed the request from its arrival; the statistics count from there too.
  const receivedNs = process.hrtime.bigint() - BigInt(Math.round(reply.elapsedTime * 1e6));
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort();
  };
  reply.raw.on('close', onClose);
  try {
    const done = await runInference(serving, { ...call, receivedNs, signal: controller.signal });
    request.batchSamples = done.result.batchSamples;
    return done;
  } catch (error) {
    if (error instanceof CancelledError) request.outcome = 'cancelled';
    throw error;
  } finally {
    reply.raw.off('close', onClose);
  }
}
