// Batches for training and evaluation: an epoch's order and each sample's augmentation come from streams keyed by
// (seed, epoch) and (seed, epoch, sample index), so epoch e yields the same batches whether or not epochs before it
// ran in this process, however many batches are prefetched and in whatever order their loads finish: what a
// bit-exact resume needs. Up to `prefetch` batches load ahead of the consumer, concurrently; `waitMs` tells how long
// the consumer waited for data (near 0: the data keeps up; large: training is input-bound).
import type { Dataset } from './dataset';
import { Rng, forKey } from './random';
import { expected, rejectUnknownKeys, requireBoolean, requireInteger, requireObject } from '../validate';

/** Separates the shuffle stream from the augmentation streams derived from the same seed. */
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

export interface Batch {
  /** batch size * C * H * W floats, each sample CHW. */
  images: Float32Array;
  labels: Int32Array;
  /** The dataset indices of the samples, in batch order. */
  indices: Int32Array;
  /** [N, C, H, W] */
  shape: [number, number, number, number];
  epoch: number;
  /** The batch's position in its epoch. */
  batch: number;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Default false: dataset order. */
  shuffle?: boolean;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Default 0. */
  seed?: number;
  /** Apply the dataset's training augmentation (default false). */
  augment?: boolean;
  /** Batches loaded ahead of the consumer (default 2; 0 loads each on request). */
  prefetch?: number;
  /** Data-parallel training: this rank's share of every epoch, as PyTorch's DistributedSampler takes it. The epoch's
   *  order (the same permutation on every rank) is padded with its own first indices to a multiple of `count`, and
   *  rank r takes positions r, r + count, r + 2 count, ...: the ranks' shards are disjoint and equal, and step s's
   *  batches over all ranks are the samples of the one-process order's block s at batch size batchSize x count.
   *  `pad: false` (evaluation) leaves the shards uneven instead, so that no sample counts twice. */
  shard?: { rank: number; count: number; pad?: boolean };
}

const OPTIONS = ['batchSize', 'shuffle', 'dropLast', 'seed', 'augment', 'prefetch', 'shard'] as const;

export class BatchLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  readonly augment: boolean;
  readonly prefetch: number;
  readonly shard: { rank: number; count: number; pad: boolean } | null;

  constructor(
    readonly dataset: Dataset,
    options: BatchLoaderOptions,
  ) {
    const opts = requireObject(options, 'BatchLoader options');
    rejectUnknownKeys(opts, OPTIONS, 'BatchLoader options');
    if (typeof dataset !== 'object' || dataset === null || typeof dataset.load !== 'function') {
      throw new TypeError(expected('a dataset (length, sampleShape, load)', 'dataset', dataset));
    }
    this.batchSize = requireInteger(opts.batchSize, 'batchSize', 1);
    this.shuffle = opts.shuffle === undefined ? false : requireBoolean(opts.shuffle, 'shuffle');
    this.dropLast = opts.dropLast === undefined ? false : requireBoolean(opts.dropLast, 'dropLast');
    this.seed = opts.seed === undefined ? 0 : requireInteger(opts.seed, 'seed', 0);
    this.augment = opts.augment === undefined ? false : requireBoolean(opts.augment, 'augment');
    this.prefetch = opts.prefetch === undefined ? 2 : requireInteger(opts.prefetch, 'prefetch', 0, 1024);
    if (opts.shard === undefined) {
      this.shard = null;
    } else {
      const shard = requireObject(opts.shard, 'shard');
      rejectUnknownKeys(shard, ['rank', 'count', 'pad'], 'shard');
      const count = requireInteger(shard.count, 'shard.count', 1);
      this.shard = {
        count,
        rank: requireInteger(shard.rank, 'shard.rank', 0, count - 1),
        pad: shard.pad === undefined ? true : requireBoolean(shard.pad, 'shard.pad'),
      };
    }
  }

  /** Samples in this loader's share of an epoch (the whole dataset without a shard). */
  get samples(): number {
    const n = this.dataset.length;
    if (!this.shard) return n;
    const { rank, count, pad } = this.shard;
    return pad ? Math.ceil(n / count) : Math.floor(n / count) + (rank < n % count ? 1 : 0);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.samples;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of epoch `epoch`: a permutation keyed by (seed, epoch), or 0..N-1 without shuffle; with a
   *  shard, this rank's positions of it. */
  order(epoch: number): Int32Array {
    requireInteger(epoch, 'epoch', 0);
    const n = this.dataset.length;
    let order: Int32Array;
    if (this.shuffle) {
      order = forKey(this.seed, SHUFFLE_STREAM, epoch).shuffle(n);
    } else {
      order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
    }
    if (!this.shard) return order;
    const { rank, count } = this.shard;
    const share = new Int32Array(this.samples);
    // Position rank + i * count of the padded order; the padding repeats the order from its start.
    for (let i = 0; i < share.length; i++) share[i] = order[(rank + i * count) % n];
    return share;
  }

  /** The augmentation stream of one sample in one epoch. */
  sampleStream(epoch: number, index: number): Rng {
    return forKey(this.seed, AUGMENT_STREAM, epoch, index);
  }

  /** The batches of epoch `epoch` from batch `startBatch` on (a resumed epoch skips what already ran), as an
   *  async iterator; read `waitMs` on it during or after the loop. */
  epoch(epoch: number, startBatch = 0): EpochIterator {
    requireInteger(startBatch, 'startBatch', 0, this.length);
    return new EpochIterator(this, epoch, this.order(epoch), startBatch);
  }

  /** Loads batch `batch` of an epoch whose order is `order`. */
  async loadBatch(epoch: number, order: Int32Array, batch: number): Promise<Batch> {
    const start = batch * this.batchSize;
    const indices = order.slice(start, Math.min(start + this.batchSize, order.length));
    const streams = this.augment ? Array.from(indices, (index) => this.sampleStream(epoch, index)) : undefined;
    const { images, labels } = await this.dataset.load(indices, streams);
    const [c, h, w] = this.dataset.sampleShape;
    return { images, labels, indices, shape: [indices.length, c, h, w], epoch, batch };
  }
}

export class EpochIterator implements AsyncIterableIterator<Batch> {
  /** Milliseconds the consumer spent waiting in next() for a batch that was not loaded yet. */
  waitMs = 0;
  private next_ = 0;
  private launched = 0;
  private readonly pending = new Map<number, Promise<Batch>>();
  private done = false;
  readonly batches: number;

  constructor(
    private readonly loader: BatchLoader,
    readonly epoch: number,
    private readonly order: Int32Array,
    startBatch = 0,
  ) {
    this.batches = loader.length;
    this.next_ = startBatch;
    this.launched = startBatch;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Batch>> {
    if (this.done || this.next_ >= this.batches) {
      this.done = true;
      return { done: true, value: undefined };
    }
    const current = this.next_++;
    // The batch asked for now, plus `prefetch` more behind it.
    this.launchUpTo(Math.min(this.batches, current + 1 + this.loader.prefetch));
    const promise = this.pending.get(current) as Promise<Batch>;
    this.pending.delete(current);
    const started = performance.now();
    try {
      const value = await promise;
      return { done: false, value };
    } catch (error) {
      this.done = true;
      throw error;
    } finally {
      this.waitMs += performance.now() - started;
    }
  }

  /** Stops prefetching (a `break` out of for-await calls this); loads already running finish unobserved. */
  async return(): Promise<IteratorResult<Batch>> {
    this.done = true;
    this.pending.clear();
    return { done: true, value: undefined };
  }

  private launchUpTo(end: number): void {
    while (this.launched < end) {
      const batch = this.launched++;
      const promise = this.loader.loadBatch(this.epoch, this.order, batch);
      // Held, not yet awaited: without this a failure before its turn would be an unhandled rejection.
      promise.catch(() => undefined);
      this.pending.set(batch, promise);
    }
  }
}
