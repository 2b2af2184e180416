// Attention rollout: its options, their checks, and the rollout of attention maps the caller already has. The model's
// own attentionMaps / attentionRollout (lib/model.ts) use the same options; the arithmetic is native
// (native/model/attention_rollout.h), where the discard rule and how it differs from jacobgil/vit-explain's are
// written down.
import { binding } from './binding';
import { Tensor } from './tensor';
import { expected, rejectUnknownKeys, requireInteger, requireObject, requireShape } from './validate';

/** How the heads of one block are made one matrix: their mean, or their element-wise maximum or minimum. */
export type HeadFusion = 'mean' | 'max' | 'min';
export const HEAD_FUSIONS: readonly HeadFusion[] = ['mean', 'max', 'min'];

export interface AttentionRolloutOptions {
  /** Default 'mean'. */
  headFusion?: HeadFusion;
  /** In each row of each block's fused T x T matrix, the fraction of the T - 1 entries other than column 0 (attention
   *  to the class token, always kept) set to 0, lowest first: floor((T - 1) * discardRatio) per row, ties dropping
   *  the lower column first. Per row, not over the whole matrix as vit-explain does. In [0, 1); default 0.9. */
  discardRatio?: number;
}

/** vit-explain's VITAttentionRollout defaults (its ratio counts over the whole matrix, ours over each row). */
export const ROLLOUT_DEFAULTS: Readonly<Required<AttentionRolloutOptions>> = { headFusion: 'mean', discardRatio: 0.9 };

/** @internal Checked options with the defaults filled in. */
export function validateRolloutOptions(options: unknown, argument = 'attentionRollout options') {
  const o = requireObject(options, argument);
  rejectUnknownKeys(o, ['headFusion', 'discardRatio'], argument);
  let headFusion = ROLLOUT_DEFAULTS.headFusion;
  if (o.headFusion !== undefined) {
    if (typeof o.headFusion !== 'string') {
      throw new TypeError(expected(`one of ${HEAD_FUSIONS.join(', ')}`, 'headFusion', o.headFusion));
    }
    if (!(HEAD_FUSIONS as readonly string[]).includes(o.headFusion)) {
      throw new RangeError(expected(`one of ${HEAD_FUSIONS.join(', ')}`, 'headFusion', o.headFusion));
    }
    headFusion = o.headFusion as HeadFusion;
  }
  let discardRatio = ROLLOUT_DEFAULTS.discardRatio;
  if (o.discardRatio !== undefined) {
    if (typeof o.discardRatio !== 'number') throw new TypeError(expected('a number', 'discardRatio', o.discardRatio));
    if (!(o.discardRatio >= 0 && o.discardRatio < 1)) {
      throw new RangeError(expected('a number in [0, 1)', 'discardRatio', o.discardRatio));
    }
    discardRatio = o.discardRatio;
  }
  return { headFusion, discardRatio };
}

/** The attention rollout of attention maps given as `VisionTransformer.attentionMaps` returns them (each block's
 *  [N, heads, T, T]; any floating-point dtype, computed in float32) over a patch grid of `grid` = [gridH, gridW]
 *  (gridH * gridW = T - 1): [N, gridH, gridW] float32, as `VisionTransformer.attentionRollout` computes it. For maps
 *  kept from earlier, or received from elsewhere. Runs on the compute thread and waits for it; it costs a few T x T
 *  matrix products per block. */
export function attentionRolloutFromMaps(
  maps: readonly Tensor[],
  grid: [number, number],
  options: AttentionRolloutOptions = {},
): Tensor {
  if (!Array.isArray(maps)) throw new TypeError(expected('an array of Tensors', 'maps', maps));
  const natives = maps.map((map, i) => {
    if (!(map instanceof Tensor)) throw new TypeError(expected('a Tensor', `maps[${i}]`, map));
    return map.native;
  });
  const sides = requireShape(grid, 'grid');
  if (sides.length !== 2) throw new RangeError(expected('[gridH, gridW]', 'grid', grid));
  sides.forEach((side, i) => requireInteger(side, `grid[${i}]`, 1));
  const { headFusion, discardRatio } = validateRolloutOptions(options);
  return new Tensor(binding.attentionRollout(natives, [sides[0], sides[1]], headFusion, discardRatio));
}
