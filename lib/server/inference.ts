// One inference request from arrival to answer, the same for every protocol (V2 over HTTP, gRPC, /v1/classify):
// its input made into a tensor, queued in its model's batcher, run in a batch, its answer built from its rows, and
// each step's time recorded in the model's statistics (model-statistics.ts), once per request whatever outputs it
// asked for. A request that fails after naming a served model counts as a failure there, whatever failed.
import type { Tensor } from '../tensor';
import { splitRows } from './batch-forward';
import type { BatchResult } from './batcher';
import type { Serving } from './model-repository';
import type { RolloutSettings } from './rollout-output';

export interface InferenceCall<T> {
  /** process.hrtime.bigint() when the request arrived (its whole time counts in the statistics). */
  receivedNs: bigint;
  /** Makes the input tensor and says how many samples it holds (validation errors thrown here count as failures). */
  input(serving: Serving): { input: Tensor; samples: number; timeoutMs: number; rollout?: RolloutSettings };
  /** Fires when the client gives up (disconnect, cancelled call): the request leaves the queue. */
  signal?: AbortSignal;
  /** Builds the answer from the request's logits, [samples, classes], and its attention rollout,
   *  [samples, gridH * gridW], when input() asked for one. */
  respond(logits: Float32Array, result: BatchResult, rollout?: Float32Array): T;
}

const elapsedNs = (from: bigint): number => Number(process.hrtime.bigint() - from);

/** Runs `call` on `serving`'s model and records it; resolves with the answer and the batch it ran in. */
export async function runInference<T>(
  serving: Serving,
  call: InferenceCall<T>,
): Promise<{ answer: T; result: BatchResult }> {
  const { statistics, batcher } = serving;
  try {
    const inputStarted = process.hrtime.bigint();
    const { input, samples, timeoutMs, rollout } = call.input(serving);
    let result: BatchResult;
    try {
      const computeInputNs = elapsedNs(inputStarted);
      result = await batcher.submit({ tensor: input, samples, rollout }, samples, timeoutMs, call.signal);
      const outputStarted = process.hrtime.bigint();
      const rows = splitRows(result.output, samples, serving.model.numClasses);
      const answer = call.respond(rows.logits, result, rollout ? rows.rollout : undefined);
      statistics.recordSuccess({
        totalNs: elapsedNs(call.receivedNs),
        queueNs: result.queueSeconds * 1e9,
        computeInputNs,
        computeInferNs: result.computeSeconds * 1e9,
        computeOutputNs: elapsedNs(outputStarted),
      });
      return { answer, result };
    } finally {
      input.dispose();
    }
  } catch (error) {
    statistics.recordFailure(elapsedNs(call.receivedNs));
    throw error;
  }
}
