// The article's AutoAugment ImageNet policy (its utils_aug.ImageNetPolicy), the last step of its training transform
// after the random resized crop and the flip: one of 25 sub-policies chosen uniformly, each two operations applied
// in turn, each with its own probability, at a magnitude from one of 10 bins. Some sub-policies are listed twice
// in the seed, which doubles their weight; they are kept so. Where the article differs from torchvision's AutoAugment,
// the article is followed: solarize thresholds fall from 256 (bin 0 changes nothing), shearX uses the raw coefficient
// with bicubic sampling, and rotation and shear fill with grey 128.
//
// Random draws come from the sample's stream in the article's order: the sub-policy, then per operation "applies"
// (uniform < p) and, only for an operation that applies and has a signed magnitude, its sign (+/- with equal odds).
import {
  Uint8Image,
  autocontrast,
  color,
  contrast,
  equalize,
  invert,
  posterize,
  rotate,
  sharpness,
  shearX,
  solarize,
} from './autoaugment-ops';
import { roundHalfEven } from './geometry';
import type { Rng } from './random';
import { expected } from '../validate';

export type AutoAugmentOp =
  | 'posterize'
  | 'solarize'
  | 'autocontrast'
  | 'equalize'
  | 'invert'
  | 'rotate'
  | 'shearX'
  | 'color'
  | 'contrast'
  | 'sharpness';

/** Per operation, the [first, last] of its 10 magnitude bins, and whether the magnitude gets a random sign. */
const RANGES: Record<AutoAugmentOp, { from: number; to: number; signed: boolean }> = {
  posterize: { from: 8, to: 4, signed: false }, // bits kept, rounded to whole bits
  solarize: { from: 256, to: 0, signed: false }, // threshold
  autocontrast: { from: 0, to: 0, signed: false },
  equalize: { from: 0, to: 0, signed: false },
  invert: { from: 0, to: 0, signed: false },
  rotate: { from: 0, to: 30, signed: true }, // degrees
  shearX: { from: 0, to: 0.3, signed: true }, // shear coefficient
  color: { from: 0, to: 0.9, signed: true }, // enhancement factor 1 +/- m
  contrast: { from: 0, to: 0.9, signed: true },
  sharpness: { from: 0, to: 0.9, signed: true },
};

export const MAGNITUDE_BINS = 10;

/** Bin `index` of an operation's magnitudes as numpy.linspace gives it (start + k * step, the last bin the end). */
export function magnitudeOf(op: AutoAugmentOp, index: number): number {
  const range = RANGES[op];
  if (!range) throw new RangeError(expected('an AutoAugment operation', 'op', op));
  if (!Number.isInteger(index) || index < 0 || index >= MAGNITUDE_BINS) {
    throw new RangeError(expected(`a magnitude bin in [0, ${MAGNITUDE_BINS - 1}]`, 'index', index));
  }
  const value =
    index === MAGNITUDE_BINS - 1 ? range.to : index * ((range.to - range.from) / (MAGNITUDE_BINS - 1)) + range.from;
  return op === 'posterize' ? roundHalfEven(value) : value;
}

export interface PolicyStep {
  op: AutoAugmentOp;
  /** Probability that the operation runs. */
  p: number;
  /** Magnitude bin, and the magnitude it stands for. */
  index: number;
  magnitude: number;
  signed: boolean;
}

const step = (p: number, op: AutoAugmentOp, index: number): PolicyStep => ({
  op,
  p,
  index,
  magnitude: magnitudeOf(op, index),
  signed: RANGES[op].signed,
});

/** The article's 25 sub-policies, in its order. */
export const IMAGENET_POLICY: readonly (readonly [PolicyStep, PolicyStep])[] = [
  [step(0.4, 'posterize', 8), step(0.6, 'rotate', 9)],
  [step(0.6, 'solarize', 5), step(0.6, 'autocontrast', 5)],
  [step(0.8, 'equalize', 8), step(0.6, 'equalize', 3)],
  [step(0.6, 'posterize', 7), step(0.6, 'posterize', 6)],
  [step(0.4, 'equalize', 7), step(0.2, 'solarize', 4)],
  [step(0.4, 'equalize', 4), step(0.8, 'rotate', 8)],
  [step(0.6, 'solarize', 3), step(0.6, 'equalize', 7)],
  [step(0.8, 'posterize', 5), step(1.0, 'equalize', 2)],
  [step(0.2, 'rotate', 3), step(0.6, 'solarize', 8)],
  [step(0.6, 'equalize', 8), step(0.4, 'posterize', 6)],
  [step(0.8, 'rotate', 8), step(0.4, 'color', 0)],
  [step(0.4, 'rotate', 9), step(0.6, 'equalize', 2)],
  [step(0.0, 'equalize', 7), step(0.8, 'equalize', 8)],
  [step(0.6, 'invert', 4), step(1.0, 'equalize', 8)],
  [step(0.6, 'color', 4), step(1.0, 'contrast', 8)],
  [step(0.8, 'rotate', 8), step(1.0, 'color', 2)],
  [step(0.8, 'color', 8), step(0.8, 'solarize', 7)],
  [step(0.4, 'sharpness', 7), step(0.6, 'invert', 8)],
  [step(0.6, 'shearX', 5), step(1.0, 'equalize', 9)],
  [step(0.4, 'color', 0), step(0.6, 'equalize', 3)],
  [step(0.4, 'equalize', 7), step(0.2, 'solarize', 4)],
  [step(0.6, 'solarize', 5), step(0.6, 'autocontrast', 5)],
  [step(0.6, 'invert', 4), step(1.0, 'equalize', 8)],
  [step(0.6, 'color', 4), step(1.0, 'contrast', 8)],
  [step(0.8, 'equalize', 8), step(0.6, 'equalize', 3)],
];

/** One operation at a magnitude; `sign` (+1 or -1) matters only to the signed ones. */
export function applyOp(image: Uint8Image, op: AutoAugmentOp, magnitude: number, sign: 1 | -1 = 1): Uint8Image {
  switch (op) {
    case 'posterize':
      return posterize(image, magnitude);
    case 'solarize':
      return solarize(image, magnitude);
    case 'autocontrast':
      return autocontrast(image);
    case 'equalize':
      return equalize(image);
    case 'invert':
      return invert(image);
    case 'rotate':
      return rotate(image, magnitude * sign);
    case 'shearX':
      return shearX(image, magnitude * sign);
    case 'color':
      return color(image, 1 + magnitude * sign);
    case 'contrast':
      return contrast(image, 1 + magnitude * sign);
    case 'sharpness':
      return sharpness(image, 1 + magnitude * sign);
    default:
      throw new RangeError(expected('an AutoAugment operation', 'op', op));
  }
}

/** The random choices for one image. */
export interface AutoAugmentChoice {
  /** Index into IMAGENET_POLICY. */
  policy: number;
  /** Whether each of its two operations runs. */
  apply: [boolean, boolean];
  /** The sign of each signed magnitude (1 where none was drawn). */
  sign: [1 | -1, 1 | -1];
}

export function drawAutoAugment(rng: Rng): AutoAugmentChoice {
  const policy = rng.int(IMAGENET_POLICY.length);
  const steps = IMAGENET_POLICY[policy];
  const apply: [boolean, boolean] = [false, false];
  const sign: [1 | -1, 1 | -1] = [1, 1];
  for (let i = 0; i < 2; i++) {
    apply[i] = rng.float() < steps[i].p;
    if (apply[i] && steps[i].signed) sign[i] = rng.int(2) === 0 ? -1 : 1;
  }
  return { policy, apply, sign };
}

/** The image after the sub-policy and decisions of `choice`; the input is not changed. */
export function applyAutoAugment(image: Uint8Image, choice: AutoAugmentChoice): Uint8Image {
  const steps = IMAGENET_POLICY[choice.policy];
  if (!steps)
    throw new RangeError(expected(`a sub-policy index in [0, ${IMAGENET_POLICY.length - 1}]`, 'policy', choice.policy));
  let result = image;
  for (let i = 0; i < 2; i++) {
    if (choice.apply[i]) result = applyOp(result, steps[i].op, steps[i].magnitude, choice.sign[i]);
  }
  return result;
}

/** The article's ImageNetPolicy on one image, every choice drawn from `rng`. */
export function autoAugment(image: Uint8Image, rng: Rng): Uint8Image {
  return applyAutoAugment(image, drawAutoAugment(rng));
}
