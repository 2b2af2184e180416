// The seed's rule for the learning rates of a given batch size (train.py): the configured Init_lr and Min_lr are
// meant for a nominal batch of nbs images, scaled linearly to the real batch and clamped to a per-optimizer range,
// so that a small batch on a small machine does not end up with a uselessly tiny lr (or a large one with a
// divergent one). Both values then feed the schedule (seedCos / seedStep in ./schedule).
import { expected, requireInteger, requireNumber, requireObject, rejectUnknownKeys } from '../validate';

export type SeedOptimizer = 'sgd' | 'adam' | 'adamw';

/**
 * The seed's optimizer settings (train.py). Facts worth knowing:
 * - SGD is built with momentum 0.9 and nesterov, and without the configured weight_decay (it is not passed).
 * - Adam gets betas (momentum, 0.999) = (0.9, 0.999) and weight_decay 5e-4 (coupled L2, torch.optim.Adam), although
 *   the seed's own comment advises 0 for Adam; 5e-4 is what its code runs with.
 * - Min_lr is 0.01 Init_lr; the recommended Init_lr is 1e-2 for SGD and 1e-3 for Adam.
 * - 'adamw' is not in the seed (its optimizer table has only 'adam' and 'sgd'); it is our extension and takes
 *   Adam's settings and lr limits, with its weight decay decoupled as torch.optim.AdamW does.
 */
export const SEED_OPTIMIZER_DEFAULTS = Object.freeze({
  sgd: Object.freeze({ initLr: 1e-2, momentum: 0.9, nesterov: true, weightDecay: 0 }),
  adam: Object.freeze({ initLr: 1e-3, betas: Object.freeze([0.9, 0.999] as const), weightDecay: 5e-4 }),
  adamw: Object.freeze({ initLr: 1e-3, betas: Object.freeze([0.9, 0.999] as const), weightDecay: 5e-4 }),
  /** Min_lr = minLrRatio * Init_lr. */
  minLrRatio: 0.01,
  /** The nominal batch size the seed uses for its ViT (vit_b_16) and Swin backbones; 64 for the CNNs. */
  nbs: 256,
});

/**
 * The seed's clamp range for the scaled Init_lr with the ViT backbone; Min_lr's range is this one times 1e-2.
 * The seed picks Adam's range only for the exact name 'adam' and SGD's for anything else; we give 'adamw' Adam's.
 */
export const SEED_LR_LIMITS: Readonly<Record<SeedOptimizer, readonly [number, number]>> = Object.freeze({
  sgd: Object.freeze([5e-4, 1e-1] as const),
  adam: Object.freeze([1e-5, 1e-3] as const),
  adamw: Object.freeze([1e-5, 1e-3] as const),
});

export interface SeedLearningRateOptions {
  optimizer: SeedOptimizer;
  batchSize: number;
  /** The lr for a batch of nbs images; defaults to the seed's recommendation for the optimizer. */
  initLr?: number;
  /** Defaults to 0.01 initLr, as in the seed. */
  minLr?: number;
  /** The nominal batch size initLr and minLr are meant for (the seed's nbs, 256 for ViT). */
  nbs?: number;
}

const KEYS = ['optimizer', 'batchSize', 'initLr', 'minLr', 'nbs'] as const;

/**
 * lr = clamp(batchSize / nbs * initLr, lo, hi) and minLr = clamp(batchSize / nbs * minLr, lo / 100, hi / 100),
 * with [lo, hi] from SEED_LR_LIMITS. Written as the seed writes it, min(max(x, lo), hi), so a range where lo > hi
 * cannot arise (the limits are constants) and the operation order, hence the rounding, is the seed's.
 */
export function seedLearningRates(options: SeedLearningRateOptions): { lr: number; minLr: number } {
  const o = requireObject(options, 'seedLearningRates options');
  rejectUnknownKeys(o, KEYS, 'seedLearningRates');
  const optimizer = o.optimizer;
  if (optimizer !== 'sgd' && optimizer !== 'adam' && optimizer !== 'adamw') {
    const what = "'sgd', 'adam' or 'adamw'";
    if (typeof optimizer !== 'string') throw new TypeError(expected(what, 'seedLearningRates optimizer', optimizer));
    throw new RangeError(expected(what, 'seedLearningRates optimizer', optimizer));
  }
  const batchSize = requireInteger(o.batchSize, 'seedLearningRates batchSize', 1);
  const initLr = requireNumber(o.initLr ?? SEED_OPTIMIZER_DEFAULTS[optimizer].initLr, 'seedLearningRates initLr',
    (n) => n > 0, 'a number > 0');
  const minLr = requireNumber(o.minLr ?? initLr * SEED_OPTIMIZER_DEFAULTS.minLrRatio, 'seedLearningRates minLr',
    (n) => n >= 0 && n <= initLr, `a number in [0, initLr = ${initLr}]`);
  const nbs = requireNumber(o.nbs ?? SEED_OPTIMIZER_DEFAULTS.nbs, 'seedLearningRates nbs', (n) => n > 0, 'a number > 0');

  const [low, high] = SEED_LR_LIMITS[optimizer];
  return {
    lr: Math.min(Math.max((batchSize / nbs) * initLr, low), high),
    minLr: Math.min(Math.max((batchSize / nbs) * minLr, low * 1e-2), high * 1e-2),
  };
}
