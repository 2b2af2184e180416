// ModelInfer: one inference over gRPC through the same path as REST's (inference.ts): the model's batcher and queue,
// its statistics. The request's queue deadline is its `timeout` parameter or the server's default, or the client's
// own gRPC deadline when that comes sooner, so a request whose caller has given up is dropped before compute. A
// cancelled call (or one whose deadline grpc-js has already answered) takes its request out of the queue.
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { CancelledError, DeadlineError } from '../errors';
import { runInference } from '../inference';
import type { ServerLifecycle } from '../lifecycle';
import type { CallRecord } from './calls';
import { deadlineOf } from './calls';
import { buildModelInferResponse, readModelInferRequest } from './infer-messages';
import type { GrpcInferRequest } from './infer-messages';
import type { ModelInferRequest } from './messages';

export async function modelInfer(
  lifecycle: ServerLifecycle,
  request: ModelInferRequest,
  call: ServerUnaryCall<ModelInferRequest, unknown>,
  record: CallRecord,
): Promise<Record<string, unknown>> {
  const receivedNs = process.hrtime.bigint();
  const { maxBatch, timeoutMs: defaultTimeoutMs } = lifecycle.options;
  // '' is no model's name: an empty model_name is an unknown model, not the default one.
  const serving = lifecycle.serving(request.model_name ?? '', request.model_version || undefined);
  // As HTTP refuses before reading the body: a full queue answers at once and costs the model's statistics nothing.
  if (serving.batcher.full) throw serving.batcher.queueFullError();
  const { model } = serving;
  const deadline = deadlineOf(call);
  const controller = new AbortController();
  const abort = () => controller.abort();
  call.on('cancelled', abort);
  if (call.cancelled) abort();
  let parsed: GrpcInferRequest;
  let timeoutMs = defaultTimeoutMs;
  try {
    const { answer, result } = await runInference(serving, {
      receivedNs,
      signal: controller.signal,
      input: () => {
        parsed = readModelInferRequest(request, model, maxBatch);
        timeoutMs = Math.min(parsed.timeoutMs ?? defaultTimeoutMs, Math.max(1, Math.floor(deadline - Date.now())));
        const input = model.toInput(parsed.input, parsed.samples);
        return { input, samples: parsed.samples, timeoutMs, rollout: parsed.rollout };
      },
      respond: (logits, _result, rollout) => buildModelInferResponse(parsed, model, logits, rollout),
    });
    record.batchSamples = result.batchSamples;
    return answer;
  } catch (error) {
    if (error instanceof CancelledError && Date.now() >= deadline) throw new DeadlineError(timeoutMs);
    throw error;
  } finally {
    call.off('cancelled', abort);
  }
}
