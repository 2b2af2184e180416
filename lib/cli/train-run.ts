// What `vitorch train` builds from a config: the model, its optimizer, the loaders of both data sets, the
// learning-rate rule per batch size, and the Trainer. Kept apart from the command so that tests and benchmarks
// build exactly what the command trains. Given a process group, the run is one rank of a data-parallel job: its
// loaders take this rank's shard of every epoch, and the learning rates follow the global batch.
import { BatchLoader, BatchLoaderOptions } from '../data/loader';
import type { ProcessGroup } from '../distributed/process-group';
import type { Dataset } from '../data/dataset';
import { VisionTransformer } from '../model';
import { loadFineTuneWeights } from '../pretrained/fine-tune-weights';
import { setNumThreads } from '../runtime';
import { manualSeed } from '../train/autograd';
import { batchScaledLearningRates } from '../train/lr-scaling';
import { adam, adamw, decayWeightsOnlyGroups, Optimizer, sgd } from '../train/optimizer';
import { quadraticWarmupCosine, stepDecay, warmupCosine } from '../train/schedule';
import { EpochBatches, EpochSchedule, FitOptions, Trainer } from '../train/trainer';
import { expected } from '../validate';
import { datasetFrom } from './datasets';
import type { TrainConfig } from './train-config';

/** fit()'s validation batches of an epoch: batches of at least 256 images (evaluation keeps no gradients, so larger
 *  batches cost little memory), or none without a validation set. With a `shard`, this rank's share of them: the
 *  Trainer gathers every rank's results. */
export function validationEpochs(
  valSet: Dataset | null,
  prefetch: number,
  shard?: BatchLoaderOptions['shard'],
): ((epoch: number, batchSize: number) => EpochBatches) | undefined {
  if (valSet === null) return undefined;
  return (epoch, batchSize) => {
    const loader = new BatchLoader(valSet, {
      batchSize: Math.max(batchSize, 256),
      prefetch,
      ...(shard ? { shard } : {}),
    });
    const batches = loader.epoch(epoch);
    return { batches, steps: loader.length, waitMs: () => batches.waitMs };
  };
}

export interface TrainingRun {
  config: TrainConfig;
  model: VisionTransformer;
  optimizer: Optimizer;
  trainer: Trainer;
  trainSet: Dataset;
  valSet: Dataset | null;
  /** fit()'s options, less signal and resume position. */
  fitOptions: Omit<FitOptions, 'signal' | 'startEpoch' | 'startStep'>;
  /** Notes of a checkpoint loaded for fine-tuning. */
  notes: string[];
  /** Where that checkpoint's network differs from the config's model in what its shapes do not show. */
  warnings: string[];
  /** How many processes train together (1 without a process group). */
  worldSize: number;
  /** Training steps per epoch at a per-process batch size (this rank's shard of the data). */
  trainSteps(batchSize: number): number;
}

/** The per-process batch size of an epoch (0-based): the frozen phase's, then the config's batchSize. */
export function epochBatchSize(config: TrainConfig, epoch: number): number {
  return epoch < config.train.freezeEpochs ? config.train.freezeBatchSize : config.train.batchSize;
}

/** The base and minimum learning rates for a batch size, by the config's rule. A data-parallel run passes its global
 *  batch (the per-process batch times the number of processes): one update averages that many images' gradients. */
export function learningRates(config: TrainConfig, batchSize: number): { lr: number; minLr: number } {
  const t = config.train;
  if (t.lrScaling === 'none') return { lr: t.lr, minLr: t.minLr };
  return batchScaledLearningRates({ optimizer: t.optimizer.kind, batchSize, initLr: t.lr, minLr: t.minLr });
}

export function scheduleFor(config: TrainConfig, batchSize: number): EpochSchedule {
  const { lr, minLr } = learningRates(config, batchSize);
  const total = config.train.epochs;
  const s = config.train.schedule;
  switch (s.kind) {
    case 'quadratic-warmup-cosine':
      return quadraticWarmupCosine({ lr, minLr, total });
    case 'step-decay':
      return stepDecay({ lr, minLr, total });
    case 'warmup-cosine':
      return warmupCosine({ lr, minLr, total, warmup: s.warmup, warmupStartLr: s.warmupStartLr, warmupPrefix: true });
    case 'constant':
      return { lrAt: () => lr };
  }
}

function buildOptimizer(config: TrainConfig, model: VisionTransformer, worldSize: number): Optimizer {
  const o = config.train.optimizer;
  const lr = learningRates(config, epochBatchSize(config, 0) * worldSize).lr;
  const groups = o.decayWeightsOnly ? decayWeightsOnlyGroups(model) : undefined;
  if (o.kind === 'sgd')
    return sgd(model, { lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay, groups });
  const options = { lr, betas: o.betas, weightDecay: o.weightDecay, groups };
  return o.kind === 'adam' ? adam(model, options) : adamw(model, options);
}

export interface BuildOptions {
  /** A checkpoint to start from (fine-tuning), a file or a folder loadPretrained reads (a transformers ViT folder):
   *  loaded past a different head or grid, with notes (lib/pretrained/fine-tune-weights.ts). */
  weights?: string;
  /** Read timm-style training checkpoints (unknown pickled objects become inert placeholders). */
  skipUnknownGlobals?: boolean;
  /** Train as this rank of a data-parallel job (initProcessGroup()). */
  processGroup?: ProcessGroup;
}

export async function buildTrainingRun(config: TrainConfig, options: BuildOptions = {}): Promise<TrainingRun> {
  const t = config.train;
  const trainSource = config.data.train;
  if (trainSource === null) throw new RangeError(expected('a data source to train on', 'data.train', null));
  const group = options.processGroup;
  const worldSize = group?.worldSize ?? 1;
  if (t.threads !== null) setNumThreads(t.threads);
  manualSeed(t.seed);
  const [trainSet, valSet] = await Promise.all([
    datasetFrom(trainSource, config.preprocess, config.augment, config.classes),
    config.data.val
      ? datasetFrom(config.data.val, config.preprocess, config.augment, config.classes)
      : Promise.resolve(null),
  ]);
  const model = new VisionTransformer(config.model);
  let notes: string[] = [];
  let warnings: string[] = [];
  if (options.weights) {
    try {
      ({ notes, warnings } = await loadFineTuneWeights(model, options.weights, {
        skipUnknownGlobals: options.skipUnknownGlobals ?? false,
      }));
    } catch (error) {
      model.dispose();
      throw error;
    }
  }
  model.train();
  const optimizer = buildOptimizer(config, model, worldSize);
  const trainer = new Trainer(model, {
    optimizer,
    labelSmoothing: t.labelSmoothing,
    accumulationSteps: t.accumulationSteps,
    autocast: t.autocast,
    ...(t.maxGradNorm === null ? {} : { maxGradNorm: t.maxGradNorm }),
    ...(group ? { processGroup: group } : {}),
  });
  const trainLoader = new Map<number, BatchLoader>();
  const loaderFor = (batchSize: number) => {
    let loader = trainLoader.get(batchSize);
    if (!loader) {
      // The article's train.py drops the last incomplete batch in training.
      loader = new BatchLoader(trainSet, {
        batchSize,
        shuffle: true,
        dropLast: true,
        seed: t.seed,
        augment: true,
        prefetch: t.prefetch,
        // DistributedSampler's padding: every rank runs the same number of steps.
        ...(group ? { shard: { rank: group.rank, count: worldSize } } : {}),
      });
      trainLoader.set(batchSize, loader);
    }
    return loader;
  };
  const train = (epoch: number, batchSize: number, startStep: number): EpochBatches => {
    const loader = loaderFor(batchSize);
    const batches = loader.epoch(epoch, startStep);
    return { batches, steps: loader.length, waitMs: () => batches.waitMs };
  };
  // Unpadded: each validation image counts once.
  const validation = validationEpochs(
    valSet,
    t.prefetch,
    group ? { rank: group.rank, count: worldSize, pad: false } : undefined,
  );
  return {
    config,
    model,
    optimizer,
    trainer,
    trainSet,
    valSet,
    notes,
    warnings,
    worldSize,
    trainSteps: (batchSize) => loaderFor(batchSize).length,
    fitOptions: {
      epochs: t.epochs,
      batchSize: t.batchSize,
      ...(t.freezeEpochs > 0 ? { freeze: { epochs: t.freezeEpochs, batchSize: t.freezeBatchSize } } : {}),
      train,
      validation,
      schedule: (batchSize) => scheduleFor(config, batchSize * worldSize),
      lrEvery: t.schedule.unit,
    },
  };
}
