// What a model's batcher runs: one batch of queued requests through the model, with the attention rollout for the
// requests that asked for it (rollout-output.ts). The batch's logits come from one forwardAsync over every input, as
// before; each request that wants its rollout then gets one attentionRolloutAsync of its own input, queued on the
// compute thread right behind that forward (async calls run there in call order), so a batch costs the requests
// that did not ask nothing more, and a request may set its own head fusion and discard ratio. A rollout is another
// pass through the blocks that keeps each block's attention maps: depth x heads x T^2 floats per sample (ViT-B/16:
// 12 x 12 x 197^2, 22 MB), held for the request's own samples only, never for the whole batch.
//
// The batcher answers each request with its own rows of one output, the same width for every sample
// (batcher.ts). So each sample's row is its logits, followed, when any request of the batch asked for the rollout,
// by gridH x gridW values: the sample's rollout where its request asked, zeros where not. splitRows takes them apart.
import type { Tensor } from '../tensor';
import { rolloutGrid } from './rollout-output';
import type { RolloutSettings } from './rollout-output';
import type { ServedModel } from './served-model';

/** One queued request's input: its tensor (ServedModel.toInput), its samples, and its rollout settings if it asked. */
export interface BatchInput {
  tensor: Tensor;
  samples: number;
  rollout?: RolloutSettings;
}

/** Runs `inputs` (`samples` samples in all) as one batch; the rows laid out as this file's header says. */
export async function forwardBatch(model: ServedModel, inputs: BatchInput[], samples: number): Promise<Float32Array> {
  const asking = inputs.filter((input) => input.rollout !== undefined);
  if (asking.length === 0) return model.forward(inputs.map((input) => input.tensor));
  // Every call is queued before any is awaited, and every one is awaited even when one fails: the inputs are freed
  // once the batch settles, and none may be freed while the compute thread still reads it.
  const calls = [
    model.forward(inputs.map((input) => input.tensor)),
    ...asking.map((input) => rolloutValues(model, input.tensor, input.rollout!)),
  ];
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const [logits, ...rollouts] = settled.map((s) => (s as PromiseFulfilledResult<Float32Array>).value);

  const classes = model.numClasses;
  const [gridH, gridW] = rolloutGrid(model);
  const cells = gridH * gridW;
  const width = classes + cells;
  const rows = new Float32Array(samples * width);
  let sample = 0;
  let next = 0;
  for (const input of inputs) {
    const rollout = input.rollout === undefined ? undefined : rollouts[next++];
    for (let s = 0; s < input.samples; s++, sample++) {
      rows.set(logits.subarray(sample * classes, (sample + 1) * classes), sample * width);
      if (rollout) rows.set(rollout.subarray(s * cells, (s + 1) * cells), sample * width + classes);
    }
  }
  return rows;
}

async function rolloutValues(model: ServedModel, input: Tensor, settings: RolloutSettings): Promise<Float32Array> {
  using rollout = await model.model.attentionRolloutAsync(input, settings);
  return rollout.toFloat32Array();
}

/** A request's rows (BatchResult.output) as its logits, [samples, classes], and, when the batch computed rollouts,
 *  the values after them, [samples, gridH * gridW] (zeros for a request that did not ask). */
export function splitRows(
  output: Float32Array,
  samples: number,
  classes: number,
): { logits: Float32Array; rollout?: Float32Array } {
  const width = output.length / samples;
  if (width === classes) return { logits: output };
  const cells = width - classes;
  const logits = new Float32Array(samples * classes);
  const rollout = new Float32Array(samples * cells);
  for (let s = 0; s < samples; s++) {
    logits.set(output.subarray(s * width, s * width + classes), s * classes);
    rollout.set(output.subarray(s * width + classes, (s + 1) * width), s * cells);
  }
  return { logits, rollout };
}
