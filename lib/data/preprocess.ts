// Image files to model inputs with sharp: decoding, colour conversion, resizing and cropping all run in libvips on
// libuv's thread pool; the main thread only turns the bytes sharp returns into normalised CHW floats (one table
// lookup per value). Reproduces the article's paths:
//   evaluation (its default, letterbox_image off): shorter side to S with a bilinear resize, centre S x S crop;
//   letterbox (option): bicubic resize keeping the aspect ratio, grey (128) borders;
//   training: torchvision's RandomResizedCrop (bilinear) then a horizontal flip with probability 0.5, then, as an
//   option, the article's AutoAugment ImageNet policy (lib/data/auto-augment.ts) on the bytes, last as in the article.
//
// Like the article (PIL's Image.open without exif_transpose), EXIF orientation is not applied. Images are made RGB as
// its cvtColor does (grey repeated, alpha dropped), or grey with ITU-R 601 luma (PIL's convert('L')) for a model
// that takes one channel. Normalisation matches its preprocess_input: x / 255 in float32, then (x - mean) / std.
import * as fs from 'fs';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { DataError, dataError } from './errors';
import { autoAugment } from './auto-augment';
import { Box, centerCropGeometry, letterboxGeometry, randomResizedCropBox } from './geometry';
import { requireMeanStd } from './idx';
import type { Rng } from './random';
import { expected, rejectUnknownKeys, requireBoolean, requireInteger, requireNumber, requireObject } from '../validate';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface TrainAugmentation {
  /** Area fraction range of RandomResizedCrop; default [0.08, 1]. */
  scale?: [number, number];
  /** Aspect ratio range; default [3/4, 4/3]. */
  ratio?: [number, number];
  /** Default true, with probability `flipProbability` (default 0.5). */
  horizontalFlip?: boolean;
  flipProbability?: number;
  /** The article's AutoAugment ImageNet policy after the crop and flip; default false. */
  autoAugment?: boolean;
}

export interface PreprocessOptions {
  /** Output [height, width], or one number for a square. */
  size: number | [number, number];
  /** Evaluation geometry: 'center-crop' (the article's default) or 'letterbox'. */
  resize?: 'center-crop' | 'letterbox';
  /** Per-channel normalisation after x / 255; ImageNet's by default. */
  mean?: number[];
  std?: number[];
  /** 3 (RGB, default) or 1 (grey). */
  channels?: 1 | 3;
  augmentation?: TrainAugmentation;
}

const OPTIONS = ['size', 'resize', 'mean', 'std', 'channels', 'augmentation'] as const;
const AUGMENT_OPTIONS = ['scale', 'ratio', 'horizontalFlip', 'flipProbability', 'autoAugment'] as const;

/** An image source: a path, or encoded bytes with the name errors should give them. */
export type ImageSource = string | { bytes: Uint8Array; name: string };

/** Validated options, and the two transforms; one per dataset, shared by all its loads. */
export class Preprocessor {
  readonly sampleShape: readonly [number, number, number];
  /** The output [height, width] and how the evaluation transform reaches it: what maps a model's outputs over its
   *  input (an attention rollout) back onto the original image (lib/explain/input-region.ts). */
  readonly size: readonly [number, number];
  readonly resize: 'center-crop' | 'letterbox';
  private readonly letterbox: boolean;
  private readonly channels: number;
  private readonly tables: Float32Array[];
  private readonly scale: [number, number];
  private readonly ratio: [number, number];
  private readonly flipProbability: number;
  private readonly autoAugment: boolean;

  constructor(options: PreprocessOptions) {
    const opts = requireObject(options, 'preprocess options');
    rejectUnknownKeys(opts, OPTIONS, 'preprocess options');
    this.size = requireSize(opts.size);
    if (opts.resize !== undefined && opts.resize !== 'center-crop' && opts.resize !== 'letterbox') {
      throw new RangeError(expected("'center-crop' or 'letterbox'", 'resize', opts.resize));
    }
    this.letterbox = opts.resize === 'letterbox';
    this.resize = this.letterbox ? 'letterbox' : 'center-crop';
    const channels = opts.channels === undefined ? 3 : requireInteger(opts.channels, 'channels', 1, 3);
    if (channels === 2) throw new RangeError(expected('1 or 3', 'channels', channels));
    this.channels = channels;
    const defaultMean = channels === 3 ? IMAGENET_MEAN : [IMAGENET_MEAN[0]];
    const defaultStd = channels === 3 ? IMAGENET_STD : [IMAGENET_STD[0]];
    const { mean, std } = requireMeanStd(opts.mean, opts.std, channels, defaultMean, defaultStd);
    // The article divides in float32, then subtracts and divides in float64 (numpy promotes to the mean's dtype).
    this.tables = mean.map((m, c) => {
      const table = new Float32Array(256);
      for (let v = 0; v < 256; v++) table[v] = (Math.fround(v / 255) - m) / std[c];
      return table;
    });
    const aug = requireObject(opts.augmentation, 'augmentation');
    rejectUnknownKeys(aug, AUGMENT_OPTIONS, 'augmentation');
    this.scale = requireRange(aug.scale, 'augmentation.scale', [0.08, 1], (x) => x > 0 && x <= 1);
    this.ratio = requireRange(aug.ratio, 'augmentation.ratio', [3 / 4, 4 / 3], (x) => x > 0);
    const flip =
      aug.horizontalFlip === undefined ? true : requireBoolean(aug.horizontalFlip, 'augmentation.horizontalFlip');
    this.flipProbability = !flip
      ? 0
      : aug.flipProbability === undefined
        ? 0.5
        : requireNumber(
            aug.flipProbability,
            'augmentation.flipProbability',
            (p) => p >= 0 && p <= 1,
            'a probability in [0, 1]',
          );
    this.autoAugment =
      aug.autoAugment === undefined ? false : requireBoolean(aug.autoAugment, 'augmentation.autoAugment');
    this.sampleShape = [channels, this.size[0], this.size[1]];
  }

  /** The evaluation transform; writes C*H*W floats into `out` at `offset` (a new array when not given). */
  async evaluate(source: ImageSource, out?: Float32Array, offset = 0): Promise<Float32Array> {
    return this.run(source, undefined, out, offset);
  }

  /** The training transform, every random choice drawn from `rng`. */
  async augment(source: ImageSource, rng: Rng, out?: Float32Array, offset = 0): Promise<Float32Array> {
    return this.run(source, rng, out, offset);
  }

  private async run(
    source: ImageSource,
    rng: Rng | undefined,
    out: Float32Array | undefined,
    offset: number,
  ): Promise<Float32Array> {
    const [th, tw] = this.size;
    const plane = th * tw;
    const target = out ?? new Float32Array(this.channels * plane);
    if (offset + this.channels * plane > target.length) {
      throw new RangeError(expected(`room for ${this.channels * plane} floats at offset ${offset}`, 'out', target));
    }
    const { bytes, name } = await readSource(source);
    let flip = false;
    let pixels: Uint8Array;
    try {
      const meta = await sharp(bytes).metadata();
      if (!meta.width || !meta.height) throw new Error('no image dimensions in the header');
      let image = this.colour(
        await dropAlpha(bytes, meta.hasAlpha ?? false),
        meta.channels ?? 3,
        meta.hasAlpha ?? false,
      );
      if (rng) {
        const box: Box = randomResizedCropBox(meta.width, meta.height, rng, this.scale, this.ratio);
        flip = this.flipProbability > 0 && rng.float() < this.flipProbability;
        image = image.extract(box).resize(tw, th, { kernel: 'linear', fit: 'fill', fastShrinkOnLoad: false });
      } else if (this.letterbox) {
        const g = letterboxGeometry(meta.width, meta.height, this.size);
        if (g.resizeWidth !== meta.width || g.resizeHeight !== meta.height) {
          image = image.resize(g.resizeWidth, g.resizeHeight, {
            kernel: 'cubic',
            fit: 'fill',
            fastShrinkOnLoad: false,
          });
        }
        image = image.extend({
          top: g.top,
          left: g.left,
          bottom: g.bottom,
          right: g.right,
          background: { r: 128, g: 128, b: 128 },
        });
      } else {
        const g = centerCropGeometry(meta.width, meta.height, this.size);
        if (g.resizeWidth !== meta.width || g.resizeHeight !== meta.height) {
          image = image.resize(g.resizeWidth, g.resizeHeight, {
            kernel: 'linear',
            fit: 'fill',
            fastShrinkOnLoad: false,
          });
        }
        image = image.extract(g.crop);
      }
      const result = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      if (result.info.width !== tw || result.info.height !== th || result.info.channels !== this.channels) {
        throw new Error(
          `sharp returned ${result.info.width}x${result.info.height}x${result.info.channels}, ` +
            `expected ${tw}x${th}x${this.channels}`,
        );
      }
      pixels = result.data;
    } catch (error) {
      if (error instanceof DataError) throw error;
      throw dataError(name, `cannot decode image: ${(error as Error).message}`);
    }
    if (rng && this.autoAugment) {
      // The policy sees the flipped image, as in the article; its choices are drawn after the crop's and the flip's.
      if (flip) mirror(pixels, tw, th, this.channels);
      pixels = autoAugment({ data: pixels, width: tw, height: th, channels: this.channels as 1 | 3 }, rng).data;
      flip = false;
    }
    this.normalise(pixels, flip, target, offset);
    return target;
  }

  /** To the output's channel count: the article's cvtColor for RGB, PIL's luma weights for grey. */
  private colour(image: Sharp, inputChannels: number, hasAlpha: boolean): Sharp {
    const colourChannels = inputChannels - (hasAlpha ? 1 : 0);
    if (this.channels === 3) return image.toColourspace('srgb');
    if (colourChannels >= 3) {
      image = image.recomb([
        [0.299, 0.587, 0.114],
        [0.299, 0.587, 0.114],
        [0.299, 0.587, 0.114],
      ]);
    }
    return image.extractChannel(0).toColourspace('b-w');
  }

  /** Interleaved HWC bytes to normalised CHW floats, mirrored left-right when `flip`. */
  private normalise(pixels: Uint8Array, flip: boolean, out: Float32Array, offset: number): void {
    const [th, tw] = this.size;
    const channels = this.channels;
    const plane = th * tw;
    for (let c = 0; c < channels; c++) {
      const table = this.tables[c];
      let o = offset + c * plane;
      for (let y = 0; y < th; y++) {
        const row = y * tw * channels + c;
        if (flip) {
          for (let x = tw - 1; x >= 0; x--) out[o++] = table[pixels[row + x * channels]];
        } else {
          for (let x = 0; x < tw; x++) out[o++] = table[pixels[row + x * channels]];
        }
      }
    }
  }
}

/** Mirrors interleaved HWC bytes left-right in place. */
function mirror(pixels: Uint8Array, width: number, height: number, channels: number): void {
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    for (let l = 0, r = width - 1; l < r; l++, r--) {
      for (let k = 0; k < channels; k++) {
        const a = row + l * channels + k;
        const b = row + r * channels + k;
        const t = pixels[a];
        pixels[a] = pixels[b];
        pixels[b] = t;
      }
    }
  }
}

/**
 * The image without its alpha channel, as PIL's convert('RGB') drops it (no compositing). Done as a pass of its own:
 * in one pipeline libvips would resize with premultiplied alpha, which changes the colours of translucent pixels.
 */
async function dropAlpha(bytes: Uint8Array, hasAlpha: boolean): Promise<Sharp> {
  if (!hasAlpha) return sharp(bytes);
  const { data, info } = await sharp(bytes).removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 } });
}

async function readSource(source: ImageSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof source === 'string') {
    try {
      return { bytes: await fs.promises.readFile(source), name: source };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw dataError(
        source,
        code === 'ENOENT' ? 'no such image file' : `cannot read image: ${(error as Error).message}`,
      );
    }
  }
  if (
    typeof source !== 'object' ||
    source === null ||
    !(source.bytes instanceof Uint8Array) ||
    typeof source.name !== 'string'
  ) {
    throw new TypeError(expected('a path or { bytes: Uint8Array, name: string }', 'image', source));
  }
  return source;
}

function requireSize(value: unknown): [number, number] {
  if (typeof value === 'number') {
    const size = requireInteger(value, 'size', 1, 65535);
    return [size, size];
  }
  if (!Array.isArray(value) || value.length !== 2)
    throw new TypeError(expected('a size or [height, width]', 'size', value));
  return [
    requireInteger(value[0], 'size[0] (height)', 1, 65535),
    requireInteger(value[1], 'size[1] (width)', 1, 65535),
  ];
}

function requireRange(
  value: unknown,
  argument: string,
  fallback: [number, number],
  check: (x: number) => boolean,
): [number, number] {
  if (value === undefined) return fallback;
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    value.some((x) => typeof x !== 'number' || !Number.isFinite(x) || !check(x)) ||
    value[0] > value[1]
  ) {
    throw new RangeError(expected('a range [low, high] with low <= high', argument, value));
  }
  return [value[0], value[1]];
}
