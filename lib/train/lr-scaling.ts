// The article's rule for the learning rates of a given batch size (its train.py): the configured Init_lr and Min_lr
// are meant for a nominal batch of nbs images, scaled linearly to the real batch and clamped to a per-optimizer range,
// so that a small batch on a small machine does not end up with a uselessly tiny lr (or a large one with a divergent
// one). Both values then feed the schedule (quadraticWarmupCosine / stepDecay in ./schedule). The constants are
// BATCH_SCALING and the per-optimizer Init_lr OPTIMIZER_DEFAULTS (./optimizer-defaults).
import { expected, requireInteger, requireNumber, requireObject, rejectUnknownKeys } from '../validate';
import { BATCH_SCALING, OPTIMIZER_DEFAULTS, OptimizerKind } from './optimizer-defaults';

export interface BatchScaledLearningRateOptions {
  optimizer: OptimizerKind;
  batchSize: number;
  /** The lr for a batch of nbs images; defaults to the optimizer's default lr (OPTIMIZER_DEFAULTS). */
  initLr?: number;
  /** Defaults to BATCH_SCALING.minLrRatio (0.01) times initLr. */
  minLr?: number;
  /** The nominal batch size initLr and minLr are meant for (BATCH_SCALING.nbs, 256, the article's for ViT). */
  nbs?: number;
}

const KEYS = ['optimizer', 'batchSize', 'initLr', 'minLr', 'nbs'] as const;
const NAME = 'batchScaledLearningRates';

/**
 * lr = clamp(batchSize / nbs * initLr, lo, hi) and minLr = clamp(batchSize / nbs * minLr, lo / 100, hi / 100),
 * with [lo, hi] from BATCH_SCALING.lrLimits. Written as the article writes it, min(max(x, lo), hi), so a range where
 * lo > hi cannot arise (the limits are constants) and the operation order, hence the rounding, is the article's.
 */
export function batchScaledLearningRates(options: BatchScaledLearningRateOptions): { lr: number; minLr: number } {
  const o = requireObject(options, `${NAME} options`);
  rejectUnknownKeys(o, KEYS, NAME);
  const optimizer = o.optimizer;
  if (optimizer !== 'sgd' && optimizer !== 'adam' && optimizer !== 'adamw') {
    const what = "'sgd', 'adam' or 'adamw'";
    if (typeof optimizer !== 'string') throw new TypeError(expected(what, `${NAME} optimizer`, optimizer));
    throw new RangeError(expected(what, `${NAME} optimizer`, optimizer));
  }
  const batchSize = requireInteger(o.batchSize, `${NAME} batchSize`, 1);
  const initLr = requireNumber(
    o.initLr ?? OPTIMIZER_DEFAULTS[optimizer].lr,
    `${NAME} initLr`,
    (n) => n > 0,
    'a number > 0',
  );
  const minLr = requireNumber(
    o.minLr ?? initLr * BATCH_SCALING.minLrRatio,
    `${NAME} minLr`,
    (n) => n >= 0 && n <= initLr,
    `a number in [0, initLr = ${initLr}]`,
  );
  const nbs = requireNumber(o.nbs ?? BATCH_SCALING.nbs, `${NAME} nbs`, (n) => n > 0, 'a number > 0');

  const [low, high] = BATCH_SCALING.lrLimits[optimizer];
  return {
    lr: Math.min(Math.max((batchSize / nbs) * initLr, low), high),
    minLr: Math.min(Math.max((batchSize / nbs) * minLr, low * 1e-2), high * 1e-2),
  };
}
