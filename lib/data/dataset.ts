// The interface BatchLoader reads from, shared by the in-memory IDX datasets and the image-file datasets. A dataset
// knows its size, its sample shape and its labels, and loads a list of samples into one CHW float32 buffer; the
// random streams it is given (one per sample, keyed by seed, epoch and sample index) are its only source of
// randomness, which is what makes augmentation reproducible.
import type { Rng } from './random';

export interface LoadedSamples {
  /** indices.length * C * H * W floats, sample after sample, each CHW. */
  images: Float32Array;
  labels: Int32Array;
}

export interface Dataset {
  readonly length: number;
  /** [channels, height, width] of every sample as `load` returns it. */
  readonly sampleShape: readonly [number, number, number];
  readonly numClasses?: number;
  /** The label of sample `index`, without loading it. */
  labelOf(index: number): number;
  /** All labels, in sample order. */
  labels(): Int32Array;
  /**
   * Loads the samples at `indices`. With `streams` (one per index, same order) the dataset's training
   * augmentation is applied, drawing only from that sample's stream; without, the evaluation path.
   */
  load(indices: ArrayLike<number>, streams?: readonly Rng[]): Promise<LoadedSamples>;
}
