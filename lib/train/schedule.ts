// Learning-rate schedules as pure functions of the position: the article's 'cos' and 'step' rules (its utils/utils.py
// get_lr_scheduler: quadraticWarmupCosine, stepDecay) and timm's warmup + cosine (warmupCosine). No schedule holds
// state, so resuming a run needs only the position (as in PyTorch's lr_scheduler.py, where a closed form of the step
// is the source of truth).
//
// Positions and units. An epoch schedule (unit 'epoch') is evaluated at the 0-based epoch index, as the article's
// train.py does once per epoch (set_optimizer_lr(optimizer, lr_scheduler_func, epoch)). `perStep(schedule,
// stepsPerEpoch)` turns it into a per-step schedule (unit 'step') whose lrAt(step) is the epoch rule at the
// fractional epoch step / stepsPerEpoch, so the curve is the same and the steps sample it finely; at every epoch boundary
// (step = k * stepsPerEpoch) it gives exactly the per-epoch value. warmupCosine is unit-agnostic, like timm's
// scheduler: its warmup and total are counted in whatever unit it is declared with.
import { expected, requireInteger, requireNumber, requireObject, rejectUnknownKeys } from '../validate';

export type ScheduleUnit = 'epoch' | 'step';

export interface Schedule {
  /** Which rule this is: 'quadraticWarmupCosine', 'stepDecay', 'warmupCosine', or a per-step form
   *  'perStep(quadraticWarmupCosine)'. */
  readonly kind: string;
  /** What lrAt's position counts: the 0-based epoch index, or the 0-based global optimizer step. */
  readonly unit: ScheduleUnit;
  /** The learning rate at a position >= 0 (fractional positions are allowed and meaningful). */
  lrAt(position: number): number;
}

export interface QuadraticWarmupCosineOptions {
  /** The peak learning rate (the article's Init_lr_fit). */
  lr: number;
  /** The floor reached at the end of the cosine and held for the last epochs (the article's Min_lr_fit). */
  minLr: number;
  /** Total epochs T (the article passes UnFreeze_Epoch). */
  total: number;
  /** Warmup length as a fraction of T, clamped to [1, 3] epochs (the article's warmup_iters_ratio, 0.05). */
  warmupRatio?: number;
  /** The warmup's starting lr as a fraction of lr, at least 1e-6 (the article's warmup_lr_ratio, 0.1). */
  warmupLrRatio?: number;
  /** Length of the final flat stretch at minLr as a fraction of T, clamped to [1, 15] (no_aug_iter_ratio, 0.05). */
  noAugRatio?: number;
}

export interface StepDecayOptions {
  lr: number;
  minLr: number;
  total: number;
  /** How many plateaus the run is cut into (the article's step_num, 10); lr reaches minLr on the last one. */
  steps?: number;
}

export interface WarmupCosineOptions {
  /** The peak learning rate (timm's base lr). */
  lr: number;
  /** The floor of the cosine, held after `total` (timm's lr_min). */
  minLr?: number;
  /** Positions of linear warmup from warmupStartLr towards lr (timm's warmup_t); 0 for none. */
  warmup: number;
  /** The position at which the cosine reaches minLr; see warmupPrefix for how warmup fits in. */
  total: number;
  /** The lr at position 0 (timm's warmup_lr_init, whose default is 0; timm's train.py passes 1e-5). */
  warmupStartLr?: number;
  /**
   * false (timm's default): the cosine spans [0, total) and the warmup overrides its start, so at
   * position `warmup` the lr is the cosine's value there, not lr (timm's t_initial = total).
   * true: the cosine starts at lr right after the warmup and spans [warmup, total) (timm's warmup_prefix with
   * t_initial = total - warmup), so `total` keeps meaning "where minLr is reached" in both modes.
   */
  warmupPrefix?: boolean;
  /** What the positions count (default 'epoch'); timm's t_in_epochs = false is unit 'step'. */
  unit?: ScheduleUnit;
}

/** The defaults of the article's get_lr_scheduler: the ratios of quadraticWarmupCosine, the steps of stepDecay. */
export const SCHEDULE_DEFAULTS = Object.freeze({
  warmupRatio: 0.05,
  warmupLrRatio: 0.1,
  noAugRatio: 0.05,
  steps: 10,
});

const QUADRATIC_WARMUP_COSINE_KEYS = ['lr', 'minLr', 'total', 'warmupRatio', 'warmupLrRatio', 'noAugRatio'] as const;
const STEP_DECAY_KEYS = ['lr', 'minLr', 'total', 'steps'] as const;
const WARMUP_COSINE_KEYS = ['lr', 'minLr', 'warmup', 'total', 'warmupStartLr', 'warmupPrefix', 'unit'] as const;

/**
 * The article's 'cos' rule (YOLOX's yolox_warm_cos_lr): quadratic warmup over W = clamp(0.05 T, 1, 3) epochs from
 * s = max(0.1 lr, 1e-6), cosine from lr to minLr, then minLr for the last N = clamp(0.05 T, 1, 15) epochs.
 * Boundaries follow the article: e <= W is warmup (so e = W gives lr), then e >= T - N is minLr, else cosine. For
 * small T the warmup wins over the flat end (T = 2: epochs 0 and 1 are s and lr) and the cosine never runs, so its
 * divisor T - W - N is only used when positive.
 */
export function quadraticWarmupCosine(options: QuadraticWarmupCosineOptions): Schedule {
  const o = requireObject(options, 'quadraticWarmupCosine options');
  rejectUnknownKeys(o, QUADRATIC_WARMUP_COSINE_KEYS, 'quadraticWarmupCosine');
  const { lr, minLr } = requireLrPair(o, 'quadraticWarmupCosine');
  const total = requirePositive(o.total, 'quadraticWarmupCosine total');
  const warmupRatio = requireRatio(o.warmupRatio ?? SCHEDULE_DEFAULTS.warmupRatio, 'quadraticWarmupCosine warmupRatio');
  const warmupLrRatio = requireRatio(
    o.warmupLrRatio ?? SCHEDULE_DEFAULTS.warmupLrRatio,
    'quadraticWarmupCosine warmupLrRatio',
  );
  const noAugRatio = requireRatio(o.noAugRatio ?? SCHEDULE_DEFAULTS.noAugRatio, 'quadraticWarmupCosine noAugRatio');

  const warmupEnd = Math.min(Math.max(warmupRatio * total, 1), 3);
  const warmupStart = Math.max(warmupLrRatio * lr, 1e-6);
  const flatEpochs = Math.min(Math.max(noAugRatio * total, 1), 15);
  const cosineLength = total - warmupEnd - flatEpochs;

  return freeze('quadraticWarmupCosine', 'epoch', (e) => {
    if (e <= warmupEnd) return (lr - warmupStart) * (e / warmupEnd) ** 2 + warmupStart;
    if (e >= total - flatEpochs) return minLr;
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos((Math.PI * (e - warmupEnd)) / cosineLength));
  });
}

/**
 * The article's 'step' rule: `steps` equal plateaus of total / steps epochs, each decay_rate = (minLr / lr)^(1 / (steps
 * - 1)) times the one before, so the last plateau is at minLr. The article raises "step_size must above 1." when a
 * plateau would be shorter than one epoch; here that is a RangeError at construction rather than at the first call.
 */
export function stepDecay(options: StepDecayOptions): Schedule {
  const o = requireObject(options, 'stepDecay options');
  rejectUnknownKeys(o, STEP_DECAY_KEYS, 'stepDecay');
  const { lr, minLr } = requireLrPair(o, 'stepDecay');
  const total = requirePositive(o.total, 'stepDecay total');
  // steps = 1 would make the exponent 1 / 0 (a ZeroDivisionError in the article's code).
  const steps = requireInteger(o.steps ?? SCHEDULE_DEFAULTS.steps, 'stepDecay steps', 2);
  const stepSize = total / steps;
  if (stepSize < 1) {
    throw new RangeError(
      `expected total / steps >= 1 (plateaus of at least one epoch; the article's "step_size must above 1.") ` +
        `for stepDecay, received total ${total} / steps ${steps} = ${stepSize}`,
    );
  }
  const decayRate = (minLr / lr) ** (1 / (steps - 1));
  return freeze('stepDecay', 'epoch', (e) => lr * decayRate ** floorDivide(e, stepSize));
}

/**
 * Linear warmup then half a cosine to minLr, with the semantics of timm's CosineLRScheduler (one cycle, no noise,
 * k_decay 1): lr = warmupStartLr + t (lr - warmupStartLr) / warmup for t < warmup, then
 * minLr + (lr - minLr)(1 + cos(pi t' / t_initial)) / 2 for t' < t_initial, minLr after.
 */
export function warmupCosine(options: WarmupCosineOptions): Schedule {
  const o = requireObject(options, 'warmupCosine options');
  rejectUnknownKeys(o, WARMUP_COSINE_KEYS, 'warmupCosine');
  const lr = requirePositive(o.lr, 'warmupCosine lr');
  const minLr = requireNumber(
    o.minLr ?? 0,
    'warmupCosine minLr',
    (n) => n >= 0 && n <= lr,
    `a number in [0, lr = ${lr}]`,
  );
  const warmup = requireNumber(o.warmup, 'warmupCosine warmup', (n) => n >= 0, 'a number >= 0');
  const total = requireNumber(o.total, 'warmupCosine total', (n) => n > warmup, `a number > warmup (${warmup})`);
  const warmupStartLr = requireNumber(
    o.warmupStartLr ?? 0,
    'warmupCosine warmupStartLr',
    (n) => n >= 0,
    'a number >= 0',
  );
  const warmupPrefix = o.warmupPrefix ?? false;
  if (typeof warmupPrefix !== 'boolean')
    throw new TypeError(expected('a boolean', 'warmupCosine warmupPrefix', warmupPrefix));
  const unit = o.unit ?? 'epoch';
  if (unit !== 'epoch' && unit !== 'step')
    throw new TypeError(expected("'epoch' or 'step'", 'warmupCosine unit', unit));

  const cycle = warmupPrefix ? total - warmup : total;
  const warmupSlope = warmup > 0 ? (lr - warmupStartLr) / warmup : 0;
  return freeze('warmupCosine', unit, (t) => {
    if (t < warmup) return warmupStartLr + t * warmupSlope;
    const tCosine = warmupPrefix ? t - warmup : t;
    // One cycle: past its end timm's cycle index is >= cycle_limit (1) and it holds lr_min.
    if (tCosine >= cycle) return minLr;
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos((Math.PI * tCosine) / cycle));
  });
}

/**
 * An epoch schedule sampled once per optimizer step: lrAt(step) = schedule.lrAt(step / stepsPerEpoch). The
 * division (not a running sum) keeps epoch boundaries exact: step k * stepsPerEpoch is epoch k to the bit.
 */
export function perStep(schedule: Schedule, stepsPerEpoch: number): Schedule {
  if (typeof schedule !== 'object' || schedule === null || typeof schedule.lrAt !== 'function') {
    throw new TypeError(expected('a Schedule', 'perStep schedule', schedule));
  }
  if (schedule.unit !== 'epoch') {
    throw new RangeError(expected("a schedule with unit 'epoch'", 'perStep schedule', `unit '${schedule.unit}'`));
  }
  const n = requireInteger(stepsPerEpoch, 'perStep stepsPerEpoch', 1);
  const inner = schedule;
  return freeze(`perStep(${inner.kind})`, 'step', (step) => inner.lrAt(step / n));
}

/**
 * Python's float floor division, which the article's `iters // step_size` uses: the floor of the exact quotient, not
 * of the rounded one. They differ where a / b rounds up to an integer, e.g. 11 // 1.1 is 9 in Python while
 * Math.floor(11 / 1.1) is 10; the remainder (% is an exact fmod in JS) recovers the exact answer.
 */
export function floorDivide(a: number, b: number): number {
  const remainder = a % b;
  let quotient = (a - remainder) / b;
  if (remainder !== 0 && b < 0 !== remainder < 0) quotient -= 1;
  if (quotient === 0) return 0;
  const floored = Math.floor(quotient);
  return quotient - floored > 0.5 ? floored + 1 : floored;
}

function freeze(kind: string, unit: ScheduleUnit, rule: (position: number) => number): Schedule {
  const lrAt = (position: number): number => {
    if (typeof position !== 'number') throw new TypeError(expected('a number', `${kind} position`, position));
    if (!Number.isFinite(position) || position < 0) {
      throw new RangeError(expected('a finite number >= 0', `${kind} position`, position));
    }
    return rule(position);
  };
  return Object.freeze({ kind, unit, lrAt });
}

function requirePositive(value: unknown, argument: string): number {
  return requireNumber(value, argument, (n) => n > 0, 'a number > 0');
}

function requireRatio(value: unknown, argument: string): number {
  return requireNumber(value, argument, (n) => n >= 0, 'a number >= 0');
}

// The article does not check it, but minLr above lr turns both rules upside down (a rising "decay").
function requireLrPair(o: Record<string, unknown>, kind: string): { lr: number; minLr: number } {
  const lr = requirePositive(o.lr, `${kind} lr`);
  const minLr = requireNumber(o.minLr, `${kind} minLr`, (n) => n >= 0 && n <= lr, `a number in [0, lr = ${lr}]`);
  return { lr, minLr };
}
