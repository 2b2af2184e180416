// The typed surface of the native addon, declared once. Everything else in lib/ talks to native code through
// these types; users never see them.
import { AddonFiles, loadAddon } from './addon-loading';
import { CheckpointError, DisposedError, DistributedError, StateDictError } from './errors';
import { LibtorchLocation } from './libtorch-locator';

export type NativeDType =
  'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type NativeTypedArray =
  Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: NativeDType;
  readonly device: string;
  requiresGrad: boolean;
  readonly nbytes: number;
  readonly disposed: boolean;
  toTypedArray(): NativeTypedArray;
  to(device: string | null, dtype: string | null): NativeTensor;
  dispose(): void;
  backward(): void;
  readonly grad: NativeTensor | null;
  item(): number;
  argmax(dim: number): NativeTensor;
  softmax(dim: number): NativeTensor;
  mean(): NativeTensor;
  sum(): NativeTensor;
  binary(op: 'add' | 'sub' | 'mul' | 'div' | 'eq', other: NativeTensor | number): NativeTensor;
  detach(): NativeTensor;
}

export interface NativeLoadReport {
  missingKeys: string[];
  unexpectedKeys: string[];
  notes: string[];
}

export interface NativeLoadOptions {
  strict: boolean;
  resamplePosEmbed: boolean;
  keepModelHead: boolean;
  skipUnknownGlobals: boolean;
}

export type NativeEntries = [string, NativeTensor][];

export interface NativeModelOptions {
  inputShape: [number, number];
  patchSize: number;
  inChans: number;
  numClasses: number;
  numFeatures: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  dropRate: number;
  attnDropRate: number;
  dropPathRate: number;
  activation: 'gelu-tanh' | 'gelu';
  layerNormEps: number;
}

export interface NativeVisionTransformer {
  forward(input: NativeTensor): NativeTensor;
  forwardAsync(input: NativeTensor | NativeTensor[]): Promise<NativeTensor>;
  forwardFeatures(input: NativeTensor): NativeTensor;
  attentionMaps(input: NativeTensor): NativeTensor[];
  attentionMapsAsync(input: NativeTensor): Promise<NativeTensor[]>;
  attentionRollout(input: NativeTensor, headFusion: string, discardRatio: number): NativeTensor;
  attentionRolloutAsync(input: NativeTensor, headFusion: string, discardRatio: number): Promise<NativeTensor>;
  train(mode: boolean): void;
  readonly training: boolean;
  namedParameters(): NativeEntries;
  stateDict(): NativeEntries;
  readonly parameterCount: number;
  loadStateDict(source: string | NativeEntries, options: NativeLoadOptions): NativeLoadReport;
  loadStateDictAsync(path: string, options: NativeLoadOptions): Promise<NativeLoadReport>;
  freezeBackbone(): void;
  unfreezeBackbone(): void;
  zeroGrad(): void;
  to(device: string | null, dtype: string | null): void;
  quantize(reduceRange: boolean): void;
  dequantize(): void;
  readonly quantized: boolean;
  readonly device: string;
  readonly dtype: NativeDType;
  readonly options: NativeModelOptions;
  dispose(): void;
  readonly disposed: boolean;
}

export interface NativeVitOptions {
  inputShape?: [number, number];
  pretrained?: string | false;
  numClasses?: number;
}

export interface NativeLoadCheckpointOptions {
  verifyChecksums?: boolean;
  unwrap?: boolean;
  skipUnknownGlobals?: boolean;
  device?: string;
}

export interface NativeCheckpoint {
  format: string;
  entries: NativeEntries;
  notes: string[];
  metadata: Record<string, string>;
}

export interface NativeSaveOptions {
  format: string;
  metadata?: Record<string, string>;
}

export interface CpuCacheStats {
  /** Idle CPU memory kept for the next tensors of the same size. */
  cachedBytes: number;
  /** Memory of large (>= 256 KiB) CPU tensors alive now. */
  inUseBytes: number;
  limitBytes: number;
  /** Large allocations served from the cache / that needed new memory. */
  reuses: number;
  freshAllocations: number;
}

export interface NativeOptimizerSpec {
  kind: 'sgd' | 'adam' | 'adamw';
  lr: number;
  weightDecay: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  betas?: [number, number];
  eps?: number;
  amsgrad?: boolean;
  fused?: boolean;
  groups?: { names: string[]; weightDecay?: number; lrScale?: number }[];
}

export type NativeAutocast = 'bfloat16' | 'float16' | null;

export interface NativeStepOptions {
  labelSmoothing: number;
  maxGradNorm: number;
  accumulationSteps: number;
  applyUpdate: boolean;
  autocast: NativeAutocast;
  /** Data-parallel: this rank was asked to stop; every rank learns it from the step's `stop`. */
  stopRequested?: boolean;
}

export interface NativeStepResult {
  loss: number;
  correct: number;
  count: number;
  gradNorm: number | null;
  /** The batch over every rank of a data-parallel session (this process's own figures otherwise). */
  global: { loss: number; correct: number; count: number };
  /** Whether any rank asked to stop at this step. */
  stop: boolean;
}

export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  backend: string;
  timeoutMs: number;
  agentStore: boolean;
  restartCount: number;
}

export interface NativeProcessGroup {
  connectAsync(options: NativeProcessGroupOptions): Promise<void>;
  allReduceSumAsync(values: Float64Array): Promise<Float64Array>;
  allReduceAsync(tensors: NativeTensor[], op: string): Promise<void>;
  barrierAsync(): Promise<void>;
  destroy(): void;
}

export interface NativeEvaluation {
  lossSum: number;
  top1: number;
  topk: number;
  count: number;
  predictions: Int32Array;
}

/** native/train/training_session.h: a model and the optimizer built for it from a spec; a Trainer owns one. */
export interface NativeTrainingSession {
  stepAsync(
    images: NativeTensor,
    labels: NativeTensor,
    options: NativeStepOptions,
    lr?: number,
  ): Promise<NativeStepResult>;
  evaluateAsync(
    images: NativeTensor,
    labels: NativeTensor,
    topk: number,
    autocast: NativeAutocast,
  ): Promise<NativeEvaluation>;
  applyUpdate(maxGradNorm: number): number | null;
  setLearningRate(lr: number): void;
  readonly learningRates: number[];
  readonly groups: { names: string[]; lrScale: number; weightDecay: number }[];
  saveStateAsync(path: string, callerState: string): Promise<void>;
  loadStateAsync(path: string): Promise<string>;
  dispose(): void;
  readonly disposed: boolean;
}

export interface NativeBinding {
  registerErrorClasses(classes: object): void;
  setNumThreads(count: number): void;
  getNumThreads(): number;
  stopComputeThread(): void;
  cpuCacheStats(): CpuCacheStats;
  setCpuCacheLimit(bytes: number): void;
  releaseCpuCache(): void;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  readonly libtorchVersion: string;
  tensorFromTypedArray(
    data: NativeTypedArray,
    shape: number[],
    sourceDtype?: string,
    targetDtype?: string,
  ): NativeTensor;
  NativeVisionTransformer: new (options: Partial<NativeModelOptions>) => NativeVisionTransformer;
  vit(options: NativeVitOptions): NativeVisionTransformer;
  vitAsync(options: NativeVitOptions): Promise<NativeVisionTransformer>;
  loadCheckpoint(path: string, options: NativeLoadCheckpointOptions): NativeCheckpoint;
  loadCheckpointAsync(path: string, options: NativeLoadCheckpointOptions): Promise<NativeCheckpoint>;
  saveCheckpoint(path: string, entries: NativeEntries, options: NativeSaveOptions): void;
  saveCheckpointAsync(path: string, entries: NativeEntries, options: NativeSaveOptions): Promise<void>;
  NativeTrainingSession: new (
    model: NativeVisionTransformer,
    spec: NativeOptimizerSpec,
    processGroup?: NativeProcessGroup,
  ) => NativeTrainingSession;
  NativeProcessGroup: new () => NativeProcessGroup;
  crossEntropy(logits: NativeTensor, labels: NativeTensor, labelSmoothing: number): NativeTensor;
  setGradEnabled(enabled: boolean): boolean;
  manualSeed(seed: number): void;
  backwardAsync(loss: NativeTensor): Promise<void>;
  attentionRollout(
    maps: NativeTensor[],
    grid: [number, number],
    headFusion: string,
    discardRatio: number,
  ): NativeTensor;
}

const loaded = loadAddon();
export const binding = loaded.native as NativeBinding;
binding.registerErrorClasses({
  TypeError,
  RangeError,
  Error,
  CheckpointError,
  StateDictError,
  DisposedError,
  DistributedError,
});
/** The libtorch the addon runs on, and how it was found. */
export const libtorch: LibtorchLocation = loaded.libtorch;
/** The addon binary and its loader. */
export const addonFiles: AddonFiles = loaded.files;
/** Why libtorch's CUDA libraries did not load although it has them (vitorch then runs on the CPU), or null. */
export const cudaProblem: string | null = loaded.cudaProblem;
