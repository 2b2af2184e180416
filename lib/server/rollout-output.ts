// The inference output `attention_rollout`: each sample's attention rollout (lib/attention.ts), FP32
// [samples, gridH, gridW], which Open Inference Protocol clients ask for by name beside or instead of `logits`. Its two
// settings are the output's own parameters, `head_fusion` ('mean', 'max' or 'min') and `discard_ratio` (a number in
// [0, 1), the fraction of each row's patch entries dropped per block), with the library's defaults
// (ROLLOUT_DEFAULTS: 'mean', 0.9) when a request leaves them out, so that a client that can only name outputs
// (tritonclient's InferRequestedOutput has no parameters argument) gets the maps `vitorch explain` draws. Both protocols read them here, so both refuse the same values in the same words.
import { HEAD_FUSIONS, ROLLOUT_DEFAULTS } from '../attention';
import type { HeadFusion } from '../attention';
import { describe } from '../validate';
import { BadRequestError } from './errors';
import type { ServedModel } from './served-model';

export const ROLLOUT_OUTPUT_NAME = 'attention_rollout';

/** The settings one request's rollout is computed with. */
export interface RolloutSettings {
  headFusion: HeadFusion;
  discardRatio: number;
}

/** The patch grid [gridH, gridW] the model's rollout covers: its input size over its patch size, rounded down (as
 *  the model's patch embedding cuts the image). */
export function rolloutGrid(model: ServedModel): [number, number] {
  const { inputShape, patchSize } = model.model.options;
  return [Math.floor(inputShape[0] / patchSize), Math.floor(inputShape[1] / patchSize)];
}

/** The rollout output's parameters (REST JSON values, or gRPC InferParameter values as parameterValue gives them),
 *  defaults filled in. */
export function rolloutSettings(headFusion: unknown, discardRatio: unknown): RolloutSettings {
  const where = `output '${ROLLOUT_OUTPUT_NAME}' parameters`;
  const fusions = HEAD_FUSIONS.map((f) => `'${f}'`).join(', ');
  if (headFusion !== undefined && !(HEAD_FUSIONS as readonly unknown[]).includes(headFusion)) {
    throw new BadRequestError(`expected one of ${fusions} for ${where}.head_fusion, received ${describe(headFusion)}`);
  }
  if (discardRatio !== undefined && !(typeof discardRatio === 'number' && discardRatio >= 0 && discardRatio < 1)) {
    throw new BadRequestError(
      `expected a number in [0, 1) for ${where}.discard_ratio, received ${describe(discardRatio)}`,
    );
  }
  return {
    headFusion: (headFusion as HeadFusion | undefined) ?? ROLLOUT_DEFAULTS.headFusion,
    discardRatio: (discardRatio as number | undefined) ?? ROLLOUT_DEFAULTS.discardRatio,
  };
}
