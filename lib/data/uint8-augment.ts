// Training augmentation and normalisation for grey images held as raw bytes (IDX datasets): random crop with zero
// padding (torchvision's RandomCrop(size, padding)) and horizontal flip, fused with the byte -> float lookup into
// one pass over each output row. Plain loops over typed arrays with the crop's valid range worked out per row, no
// per-pixel closures: a batch of 128 28x28 images is about 100 000 table lookups. With the article's AutoAugment on,
// the cropped and flipped bytes are made first, the policy runs on them (after the flip, as in the article), and the
// lookup follows.
import { autoAugment } from './auto-augment';
import type { Rng } from './random';
import { expected, rejectUnknownKeys, requireBoolean, requireInteger, requireNumber, requireObject } from '../validate';

export interface Uint8Augmentation {
  /** Mirror left-right with probability `flipProbability` (default true). */
  horizontalFlip?: boolean;
  /** Default 0.5. */
  flipProbability?: number;
  /** Pad each side by this many zero pixels and crop back to H x W at a random offset; 0 (the default) turns it off. */
  cropPadding?: number;
  /** The article's AutoAugment ImageNet policy after the crop and flip (default false). */
  autoAugment?: boolean;
}

export const UINT8_AUGMENT_OPTIONS = ['horizontalFlip', 'flipProbability', 'cropPadding', 'autoAugment'] as const;

export function requireUint8Augmentation(value: unknown): Required<Uint8Augmentation> {
  const opts = requireObject(value, 'augmentation');
  rejectUnknownKeys(opts, UINT8_AUGMENT_OPTIONS, 'augmentation');
  return {
    horizontalFlip:
      opts.horizontalFlip === undefined ? true : requireBoolean(opts.horizontalFlip, 'augmentation.horizontalFlip'),
    flipProbability:
      opts.flipProbability === undefined
        ? 0.5
        : requireNumber(
            opts.flipProbability,
            'augmentation.flipProbability',
            (p) => p >= 0 && p <= 1,
            'a probability in [0, 1]',
          ),
    cropPadding:
      opts.cropPadding === undefined ? 0 : requireInteger(opts.cropPadding, 'augmentation.cropPadding', 0, 1024),
    autoAugment: opts.autoAugment === undefined ? false : requireBoolean(opts.autoAugment, 'augmentation.autoAugment'),
  };
}

/** The random choices for one sample, drawn in torchvision's order: crop offset (row, then column), then flip
 *  (the AutoAugment choices, when on, are drawn after these from the same stream). */
export interface Uint8Choice {
  /** Offsets into the padded image, each in [0, 2 * padding]. */
  top: number;
  left: number;
  flip: boolean;
}

export function drawUint8Choice(rng: Rng, augmentation: Required<Uint8Augmentation>): Uint8Choice {
  const span = 2 * augmentation.cropPadding + 1;
  const top = augmentation.cropPadding > 0 ? rng.int(span) : 0;
  const left = augmentation.cropPadding > 0 ? rng.int(span) : 0;
  const flip = augmentation.horizontalFlip ? rng.float() < augmentation.flipProbability : false;
  return { top, left, flip };
}

/**
 * Samples `indices` of `pixels` (N x h x w bytes) as float32 CHW, one table per output channel mapping a byte to
 * its normalised value. With `augmentation` and `streams`, each sample is cropped and flipped by its own stream.
 */
export function normaliseUint8Samples(
  pixels: Uint8Array,
  h: number,
  w: number,
  indices: ArrayLike<number>,
  tables: readonly Float32Array[],
  augmentation?: Required<Uint8Augmentation>,
  streams?: readonly Rng[],
): Float32Array {
  const plane = h * w;
  const channels = tables.length;
  const out = new Float32Array(indices.length * channels * plane);
  const padding = augmentation ? augmentation.cropPadding : 0;
  for (let k = 0; k < indices.length; k++) {
    const src = indices[k] * plane;
    let oy = 0;
    let ox = 0;
    let flip = false;
    if (augmentation && streams) {
      const choice = drawUint8Choice(streams[k], augmentation);
      oy = choice.top - padding;
      ox = choice.left - padding;
      flip = choice.flip;
      if (augmentation.autoAugment) {
        const cropped = cropAndFlip(pixels, src, h, w, oy, ox, flip);
        const { data } = autoAugment({ data: cropped, width: w, height: h, channels: 1 }, streams[k]);
        for (let c = 0; c < channels; c++) {
          const table = tables[c];
          const o = (k * channels + c) * plane;
          for (let i = 0; i < plane; i++) out[o + i] = table[data[i]];
        }
        continue;
      }
    }
    for (let c = 0; c < channels; c++) {
      const table = tables[c];
      const fill = table[0];
      let o = (k * channels + c) * plane;
      for (let y = 0; y < h; y++, o += w) {
        const sy = y + oy;
        if (sy < 0 || sy >= h) {
          out.fill(fill, o, o + w);
          continue;
        }
        const row = src + sy * w;
        if (!flip) {
          // Output x reads source column x + ox.
          const x0 = Math.max(0, -ox);
          const x1 = Math.min(w, w - ox);
          if (x0 > 0) out.fill(fill, o, o + Math.min(x0, w));
          for (let x = x0, s = row + x0 + ox; x < x1; x++, s++) out[o + x] = table[pixels[s]];
          if (x1 < w) out.fill(fill, o + Math.max(x1, 0), o + w);
        } else {
          // Flipped after the crop: output x reads cropped column w - 1 - x, i.e. source column w - 1 - x + ox.
          const x0 = Math.max(0, ox);
          const x1 = Math.min(w, w + ox);
          if (x0 > 0) out.fill(fill, o, o + Math.min(x0, w));
          for (let x = x0, s = row + w - 1 - x0 + ox; x < x1; x++, s--) out[o + x] = table[pixels[s]];
          if (x1 < w) out.fill(fill, o + Math.max(x1, 0), o + w);
        }
      }
    }
  }
  return out;
}

/** The crop at offset (oy, ox) as h x w bytes (zero where it leaves the image), mirrored left-right when `flip`. */
function cropAndFlip(
  pixels: Uint8Array,
  src: number,
  h: number,
  w: number,
  oy: number,
  ox: number,
  flip: boolean,
): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = y + oy;
    if (sy < 0 || sy >= h) continue;
    const row = src + sy * w;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + ox;
      if (sx >= 0 && sx < w) out[y * w + x] = pixels[row + sx];
    }
  }
  return out;
}

export function checkStreams(indices: ArrayLike<number>, streams: readonly Rng[] | undefined): void {
  if (streams !== undefined && streams.length !== indices.length) {
    throw new RangeError(expected(`${indices.length} random streams, one per index`, 'streams', streams));
  }
}
