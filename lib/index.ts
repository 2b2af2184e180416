// vitorch: the Vision Transformer for Node.js on libtorch.
export { tensor, Tensor } from './tensor';
export type { Device, TensorInput, TensorOptions } from './tensor';
export type { DType, TypedArrayOf } from './dtype';
export { VisionTransformer, vit, vitAsync } from './model';
export type {
  Activation,
  LoadReport,
  LoadStateDictOptions,
  ModelDType,
  VisionTransformerOptions,
  VitOptions,
} from './model';
export { attentionRolloutFromMaps, HEAD_FUSIONS, ROLLOUT_DEFAULTS } from './attention';
export type { AttentionRolloutOptions, HeadFusion } from './attention';
export { drawExplanation, explanationLayout, EXPLANATION_DEFAULTS, renderExplanation } from './explain/overlay';
export type { ExplanationInput, ExplanationLayout } from './explain/overlay';
export { inputRegion } from './explain/input-region';
export type { InputGeometry, Region } from './explain/input-region';
export { colourAt, VIRIDIS } from './explain/colormap';
export type { InferencePrecision } from './inference-precision';
export {
  CheckpointTensors,
  loadCheckpoint,
  loadCheckpointAsync,
  saveCheckpoint,
  saveCheckpointAsync,
} from './checkpoint';
export type { CheckpointFormat, LoadCheckpointOptions, SaveCheckpointOptions } from './checkpoint';
export { cpuCache, cuda, getNumThreads, libtorch, libtorchVersion, setNumThreads } from './runtime';
export type { CpuCacheStats } from './runtime';
export {
  CheckpointError,
  ConfigError,
  DisposedError,
  DistributedError,
  PretrainedError,
  StateDictError,
} from './errors';
export { initProcessGroup, launchedByTorchrun, ProcessGroup } from './distributed/process-group';
export type { ProcessGroupBackend, ProcessGroupOptions } from './distributed/process-group';
export { LibtorchError } from './libtorch-locator';
export type { LibtorchLocation } from './libtorch-locator';
export { crossEntropy, manualSeed, noGrad } from './train/autograd';
export type { CrossEntropyOptions } from './train/autograd';
export { adam, adamw, decayWeightsOnlyGroups, Optimizer, sgd } from './train/optimizer';
export { BATCH_SCALING, OPTIMIZER_DEFAULTS, OPTIMIZER_KINDS } from './train/optimizer-defaults';
export type { AdamOptions, OptimizerKind, ParameterGroup, SGDOptions } from './train/optimizer';
export { Trainer } from './train/trainer';
export type {
  Autocast,
  Batch,
  EpochBatches,
  EpochEvent,
  EpochSchedule,
  EpochTotals,
  Evaluation,
  FitOptions,
  StepEvent,
  StepResult,
  StoppedEvent,
  TrainerOptions,
  TrainingEvent,
} from './train/trainer';
export {
  Classifier,
  defaultClassifier,
  defaultModelDir,
  defaultModelImages,
  loadClassifier,
  preprocessorFor,
  readClassifierConfig,
} from './classifier';
export type {
  ClassifierConfig,
  LoadClassifierOptions,
  PreprocessConfig,
  Prediction,
  ResolvedClassifierConfig,
} from './classifier';
export { perStep, quadraticWarmupCosine, SCHEDULE_DEFAULTS, stepDecay, warmupCosine } from './train/schedule';
export type { QuadraticWarmupCosineOptions, Schedule, StepDecayOptions, WarmupCosineOptions } from './train/schedule';
export { batchScaledLearningRates } from './train/lr-scaling';
export type { BatchScaledLearningRateOptions } from './train/lr-scaling';
export {
  annotate,
  BatchLoader,
  DataError,
  idxDataset,
  imageFolderDataset,
  IMAGENET_MEAN,
  IMAGENET_STD,
  Preprocessor,
  readAnnotations,
  readClasses,
} from './data';
export type { BatchLoaderOptions, Dataset, IdxDatasetOptions, ImageFolderOptions, PreprocessOptions } from './data';
// The server's home is 'vitorch/server' (lib/server/index.ts); these stay for code that imports them from here.
// createServer loads fastify, pino and prom-client on its first call, not when vitorch is required.
export const createServer: typeof import('./server/app').createServer = (options) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on the first call, not with vitorch
  (require('./server/app') as typeof import('./server/app')).createServer(options);
export { Batcher } from './server/batcher';
export type { BatcherOptions, BatchResult, BatchRunner } from './server/batcher';
export type { ServerOptions } from './server/options';
export { handleShutdownSignals } from './server/lifecycle';
export type { Phase, ServerLifecycle, SignalOptions } from './server/lifecycle';
export { loadPretrained, readPretrained } from './pretrained/load-pretrained';
export type {
  LoadPretrainedOptions,
  Pretrained,
  PretrainedCheckpoint,
  PretrainedFamily,
} from './pretrained/load-pretrained';
export { mapTransformersViT } from './pretrained/transformers-names';
export type { MappedStateDict } from './pretrained/transformers-names';
