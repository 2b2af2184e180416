// MNIST-style IDX files (Fashion-MNIST, MNIST, EMNIST), gzipped or not, and the in-memory dataset made of an image
// file and a label file. Only the unsigned-byte type is supported: it is what every published IDX dataset uses.
//
// IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each dimension as
// a big-endian uint32, then the data, row-major, nothing after it.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { promisify } from 'util';
import { DataError, dataError } from './errors';
import { Uint8Augmentation, checkStreams, normaliseUint8Samples, requireUint8Augmentation } from './uint8-augment';
import type { Dataset, LoadedSamples } from './dataset';
import type { Rng } from './random';
import { expected, rejectUnknownKeys, requireInteger, requireObject, requireString } from '../validate';

const gunzip = promisify(zlib.gunzip);

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads the whole file; gzip is recognised by its magic bytes (1f 8b) and inflated on libuv's thread pool. */
export async function readIdx(file: string): Promise<IdxArray> {
  requireString(file, 'file');
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (error) {
    throw readFailure(file, error);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const compressed = bytes.length;
    try {
      bytes = await gunzip(bytes);
    } catch (error) {
      throw dataError(
        file,
        `corrupt or truncated gzip data (${compressed} bytes compressed): ${(error as Error).message}`,
      );
    }
  }
  return parseIdx(bytes, file);
}

/** Parses IDX bytes already in memory; `file` names them in errors. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw dataError(file, `truncated IDX header: expected at least 4 bytes, received ${bytes.length}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw dataError(
      file,
      `not an IDX file: expected magic bytes 00 00 <type> <ndims>, received ${hex(bytes.subarray(0, 4))}`,
    );
  }
  const type = bytes[2];
  if (type !== 0x08) {
    const name = TYPE_NAMES[type] ? ` (${TYPE_NAMES[type]})` : ' (not an IDX type)';
    throw dataError(file, `unsupported IDX type code: expected 0x08 (unsigned byte), received 0x${hex1(type)}${name}`);
  }
  const ndims = bytes[3];
  if (ndims === 0) throw dataError(file, 'expected at least 1 dimension in the IDX header, received 0');
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw dataError(
      file,
      `truncated IDX header: expected ${headerBytes} bytes for ${ndims} dimensions, received ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    count *= size;
  }
  const dataBytes = bytes.length - headerBytes;
  if (dataBytes < count) {
    throw dataError(
      file,
      `truncated IDX data: expected ${count} bytes for dims [${dims.join(', ')}], received ${dataBytes}`,
    );
  }
  if (dataBytes > count) {
    throw dataError(
      file,
      `trailing bytes after IDX data: expected ${count} bytes for dims [${dims.join(', ')}], received ${dataBytes}`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

export interface IdxDatasetOptions {
  /** The images file, dims [N, H, W]. */
  images: string;
  /** The labels file, dims [N]. */
  labels: string;
  /** Labels must be below it; by default the largest label + 1. */
  numClasses?: number;
  /** Per-channel mean and std applied after x / 255 (one number each, or `channels` numbers); default 0 and 1. */
  mean?: number[];
  std?: number[];
  /** 1 (the file's grey levels) or 3 (the grey level repeated, for a model that takes RGB); default 1. */
  channels?: 1 | 3;
  /** Training augmentation, applied only when the loader passes random streams. */
  augmentation?: Uint8Augmentation;
}

const IDX_OPTIONS = ['images', 'labels', 'numClasses', 'mean', 'std', 'channels', 'augmentation'] as const;

/** Reads both files (concurrently) and checks that they describe the same samples. */
export async function idxDataset(options: IdxDatasetOptions): Promise<IdxDataset> {
  const opts = requireObject(options, 'idxDataset options');
  rejectUnknownKeys(opts, IDX_OPTIONS, 'idxDataset options');
  const imagesFile = requireString(opts.images, 'images');
  const labelsFile = requireString(opts.labels, 'labels');
  const channels = opts.channels === undefined ? 1 : requireInteger(opts.channels, 'channels', 1, 3);
  if (channels !== 1 && channels !== 3) throw new RangeError(expected('1 or 3', 'channels', channels));
  const numClasses = opts.numClasses === undefined ? undefined : requireInteger(opts.numClasses, 'numClasses', 1);
  const { mean, std } = requireMeanStd(opts.mean, opts.std, channels, [0], [1]);
  const augmentation = requireUint8Augmentation(opts.augmentation);

  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);
  if (images.dims.length !== 3) {
    throw dataError(imagesFile, `expected images of dims [N, H, W], received dims [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw dataError(labelsFile, `expected labels of dims [N], received dims [${labels.dims.join(', ')}]`);
  }
  if (labels.dims[0] !== images.dims[0]) {
    throw dataError(
      labelsFile,
      `expected ${images.dims[0]} labels, one per image of ${imagesFile}, received ${labels.dims[0]}`,
    );
  }
  let maxLabel = -1;
  for (let i = 0; i < labels.data.length; i++) {
    const label = labels.data[i];
    if (numClasses !== undefined && label >= numClasses) {
      throw dataError(
        labelsFile,
        `label of sample ${i} is ${label}: expected a label in [0, ${numClasses - 1}] for ${numClasses} classes`,
      );
    }
    if (label > maxLabel) maxLabel = label;
  }
  return new IdxDataset(images, Int32Array.from(labels.data), {
    numClasses: numClasses ?? maxLabel + 1,
    mean,
    std,
    channels,
    augmentation,
  });
}

/** N grey images of H x W bytes in memory, and their labels. */
export class IdxDataset implements Dataset {
  readonly length: number;
  readonly sampleShape: readonly [number, number, number];
  readonly numClasses: number;
  private readonly pixels: Uint8Array;
  private readonly labelArray: Int32Array;
  /** The normalised value of each grey level, per channel: one table lookup per pixel instead of arithmetic. */
  private readonly lookup: Float32Array[];
  private readonly augmentation: Required<Uint8Augmentation>;

  constructor(
    images: IdxArray,
    labels: Int32Array,
    options: {
      numClasses: number;
      mean: number[];
      std: number[];
      channels: number;
      augmentation: Required<Uint8Augmentation>;
    },
  ) {
    const [n, h, w] = images.dims;
    this.length = n;
    this.sampleShape = [options.channels, h, w];
    this.numClasses = options.numClasses;
    this.pixels = images.data;
    this.labelArray = labels;
    this.augmentation = options.augmentation;
    this.lookup = [];
    for (let c = 0; c < options.channels; c++) {
      const table = new Float32Array(256);
      // Computed as torchvision does it, in float32 steps: ToTensor's x / 255, then Normalize's (x - mean) / std.
      for (let v = 0; v < 256; v++)
        table[v] = (Math.fround(v / 255) - Math.fround(options.mean[c])) / Math.fround(options.std[c]);
      this.lookup.push(table);
    }
  }

  /** The raw bytes of sample `index` (H * W), a view without copy. */
  raw(index: number): Uint8Array {
    const [, h, w] = this.sampleShape;
    return this.pixels.subarray(index * h * w, (index + 1) * h * w);
  }

  labelOf(index: number): number {
    return this.labelArray[this.checkIndex(index)];
  }

  labels(): Int32Array {
    return this.labelArray.slice();
  }

  async load(indices: ArrayLike<number>, streams?: readonly Rng[]): Promise<LoadedSamples> {
    return this.loadSync(indices, streams);
  }

  /** `load` without the promise: all the work is a few typed-array loops, so there is nothing to wait for. */
  loadSync(indices: ArrayLike<number>, streams?: readonly Rng[]): LoadedSamples {
    checkStreams(indices, streams);
    const [, h, w] = this.sampleShape;
    const labels = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) labels[k] = this.labelArray[this.checkIndex(indices[k])];
    const images = normaliseUint8Samples(
      this.pixels,
      h,
      w,
      indices,
      this.lookup,
      streams === undefined ? undefined : this.augmentation,
      streams,
    );
    return { images, labels };
  }

  private checkIndex(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(expected(`a sample index in [0, ${this.length - 1}]`, 'index', index));
    }
    return index;
  }
}

/** Mean and std lists of one number (used for every channel) or one per channel; std must be positive. */
export function requireMeanStd(
  mean: unknown,
  std: unknown,
  channels: number,
  defaultMean: number[],
  defaultStd: number[],
): { mean: number[]; std: number[] } {
  const check = (value: unknown, argument: string, fallback: number[], positive: boolean): number[] => {
    const list = value === undefined ? fallback : value;
    if (
      !Array.isArray(list) ||
      list.some((x) => typeof x !== 'number' || !Number.isFinite(x) || (positive && x <= 0))
    ) {
      throw new TypeError(expected(`an array of ${positive ? 'positive ' : ''}finite numbers`, argument, value));
    }
    if (list.length === 1) return new Array<number>(channels).fill(list[0]);
    if (list.length !== channels)
      throw new RangeError(expected(`1 or ${channels} numbers (one per channel)`, argument, value));
    return list.slice();
  };
  return { mean: check(mean, 'mean', defaultMean, false), std: check(std, 'std', defaultStd, true) };
}

function readFailure(file: string, error: unknown): DataError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return dataError(file, 'no such file: expected an IDX file (gzipped or not)');
  if (code === 'EISDIR') return dataError(file, 'expected an IDX file, received a directory');
  return dataError(file, `cannot read: ${(error as Error).message}`);
}

function hex1(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, hex1).join(' ');
}
