// The JSON config of `vitorch train` (examples/fashion-mnist.json is one): the model's options, its classes, the
// data, the preprocessing and the training settings. `vitorch train` writes the resolved config (classes as names,
// normalisation as numbers) into its save directory as config.json, which is everything `eval`, `predict` and
// `serve` need to rebuild the model, its classes and its preprocessing.
import * as fs from 'fs';
import * as path from 'path';
import { readClasses } from '../data/annotations';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/preprocess';
import type { VisionTransformerOptions } from '../model';
import { expected, rejectUnknownKeys, requireObject } from '../validate';

/** Training files: the seed's annotation lines, a folder of class folders, or IDX image and label files. */
export type DataSource =
  | { format: 'idx'; images: string; labels: string }
  | { format: 'annotations'; file: string }
  | { format: 'folder'; root: string };

export interface PreprocessConfig {
  /** [height, width] the images are brought to (the model's inputShape). */
  size: [number, number];
  channels: 1 | 3;
  mean: number[];
  std: number[];
  /** For image files: shorter side resized then centre crop (the seed's evaluation), or letterbox. */
  resize: 'center-crop' | 'letterbox';
}

export interface AugmentConfig {
  horizontalFlip: boolean;
  /** Image files: RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) in training. */
  randomResizedCrop: boolean;
  /** In-memory IDX images: random crop after zero padding by this many pixels (0: off). */
  cropPadding: number;
  /** The seed's AutoAugment ImageNet policy after the crop and flip, for both kinds of data (default off). */
  autoAugment: boolean;
}

export interface ScheduleConfig {
  /** 'seed-cos' and 'seed-step' are the seed repository's rules; 'warmup-cosine' is timm's. */
  kind: 'seed-cos' | 'seed-step' | 'warmup-cosine' | 'constant';
  /** Set the rate every step (fractional epochs) or once per epoch (the seed's way). */
  unit: 'epoch' | 'step';
  /** warmup-cosine: warmup epochs, starting from warmupStartLr. */
  warmup: number;
  warmupStartLr: number;
}

export interface OptimizerConfig {
  kind: 'sgd' | 'adam' | 'adamw';
  momentum: number;
  nesterov: boolean;
  betas: [number, number];
  weightDecay: number;
  /** No weight decay on biases, norms, cls_token and pos_embed (timm's habit; the seed decays everything). */
  decayWeightsOnly: boolean;
}

export interface TrainSettings {
  /** Total epochs (the seed's UnFreeze_Epoch). */
  epochs: number;
  batchSize: number;
  /** The seed's Freeze_Train: this many first epochs with the backbone frozen, at their own batch size. */
  freezeEpochs: number;
  freezeBatchSize: number;
  /** Init_lr and Min_lr. */
  lr: number;
  minLr: number;
  /** 'seed': lr and minLr scaled by batch / 256 and clamped as the seed does for ViT; 'none': as given. */
  lrScaling: 'seed' | 'none';
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  labelSmoothing: number;
  maxGradNorm: number | null;
  accumulationSteps: number;
  autocast: 'bfloat16' | 'float16' | null;
  seed: number;
  /** Write ep%03d-loss%.3f-val_loss%.3f.pth every this many epochs (and after the last). */
  savePeriod: number;
  /** Batches prepared ahead of the running step. */
  prefetch: number;
  /** libtorch intra-op threads; default all cores. */
  threads: number | null;
}

export interface TrainConfig {
  model: VisionTransformerOptions;
  classes: string[];
  data: { train: DataSource; val: DataSource | null };
  preprocess: PreprocessConfig;
  augment: AugmentConfig;
  train: TrainSettings;
}

/** What a config file may leave out, filled in as the seed's train.py would. */
function defaults(model: VisionTransformerOptions): Omit<TrainConfig, 'model' | 'classes' | 'data'> {
  const inChans = model.inChans ?? 3;
  const size = model.inputShape ?? [224, 224];
  return {
    preprocess: {
      size: [size[0], size[1]], channels: inChans === 1 ? 1 : 3,
      mean: inChans === 1 ? [0.5] : [...IMAGENET_MEAN], std: inChans === 1 ? [0.5] : [...IMAGENET_STD],
      resize: 'center-crop',
    },
    augment: { horizontalFlip: true, randomResizedCrop: true, cropPadding: 0, autoAugment: false },
    train: {
      epochs: 200, batchSize: 32, freezeEpochs: 0, freezeBatchSize: 32, lr: 1e-2, minLr: 1e-4, lrScaling: 'seed',
      optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, betas: [0.9, 0.999], weightDecay: 0, decayWeightsOnly: false },
      schedule: { kind: 'seed-cos', unit: 'epoch', warmup: 0, warmupStartLr: 0 },
      labelSmoothing: 0, maxGradNorm: null, accumulationSteps: 1, autocast: null, seed: 0, savePeriod: 10,
      prefetch: 2, threads: null,
    },
  };
}

export class ConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

function merge<T>(base: T, override: unknown, where: string, file: string): T {
  if (override === undefined) return base;
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return override as T;
  if (typeof override !== 'object' || override === null || Array.isArray(override)) {
    throw new ConfigError(file, expected('an object', where, override));
  }
  const result: Json = { ...(base as Json) };
  const known = Object.keys(base as Json);
  for (const [key, value] of Object.entries(override as Json)) {
    if (!known.includes(key)) {
      throw new ConfigError(file, `unknown key '${where}.${key}'; known keys: ${known.join(', ')}`);
    }
    result[key] = merge((base as Json)[key], value, `${where}.${key}`, file);
  }
  return result as T;
}

function resolvePath(file: string, value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(file, expected('a path', where, value));
  return path.resolve(path.dirname(file), value);
}

function dataSource(file: string, value: unknown, where: string): DataSource {
  const o = requireObjectIn(file, value, where);
  switch (o.format) {
    case 'idx':
      rejectUnknownIn(file, o, ['format', 'images', 'labels'], where);
      return { format: 'idx', images: resolvePath(file, o.images, `${where}.images`), labels: resolvePath(file, o.labels, `${where}.labels`) };
    case 'annotations':
      rejectUnknownIn(file, o, ['format', 'file'], where);
      return { format: 'annotations', file: resolvePath(file, o.file, `${where}.file`) };
    case 'folder':
      rejectUnknownIn(file, o, ['format', 'root'], where);
      return { format: 'folder', root: resolvePath(file, o.root, `${where}.root`) };
    default:
      throw new ConfigError(file, expected("format 'idx', 'annotations' or 'folder'", `${where}.format`, o.format));
  }
}

function requireObjectIn(file: string, value: unknown, where: string): Json {
  try {
    return requireObject(value ?? null, where);
  } catch (error) {
    throw new ConfigError(file, (error as Error).message);
  }
}

function rejectUnknownIn(file: string, o: Json, known: string[], where: string): void {
  try {
    rejectUnknownKeys(o, known, where);
  } catch (error) {
    throw new ConfigError(file, (error as Error).message);
  }
}

function check(file: string, ok: boolean, what: string, where: string, value: unknown): void {
  if (!ok) throw new ConfigError(file, expected(what, where, value));
}

const positiveInteger = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1;
const nonNegative = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;

function validateSettings(file: string, c: TrainConfig): void {
  const t = c.train;
  check(file, positiveInteger(t.epochs), 'a positive integer', 'train.epochs', t.epochs);
  check(file, positiveInteger(t.batchSize), 'a positive integer', 'train.batchSize', t.batchSize);
  check(file, Number.isInteger(t.freezeEpochs) && t.freezeEpochs >= 0 && t.freezeEpochs <= t.epochs,
    `an integer in [0, ${t.epochs}]`, 'train.freezeEpochs', t.freezeEpochs);
  check(file, positiveInteger(t.freezeBatchSize), 'a positive integer', 'train.freezeBatchSize', t.freezeBatchSize);
  check(file, nonNegative(t.lr) && t.lr > 0, 'a positive number', 'train.lr', t.lr);
  check(file, nonNegative(t.minLr) && t.minLr <= t.lr, `a number in [0, ${t.lr}]`, 'train.minLr', t.minLr);
  check(file, t.lrScaling === 'seed' || t.lrScaling === 'none', "'seed' or 'none'", 'train.lrScaling', t.lrScaling);
  check(file, ['sgd', 'adam', 'adamw'].includes(t.optimizer.kind), "'sgd', 'adam' or 'adamw'", 'train.optimizer.kind', t.optimizer.kind);
  check(file, ['seed-cos', 'seed-step', 'warmup-cosine', 'constant'].includes(t.schedule.kind),
    "'seed-cos', 'seed-step', 'warmup-cosine' or 'constant'", 'train.schedule.kind', t.schedule.kind);
  check(file, t.schedule.unit === 'epoch' || t.schedule.unit === 'step', "'epoch' or 'step'", 'train.schedule.unit', t.schedule.unit);
  check(file, nonNegative(t.labelSmoothing) && t.labelSmoothing <= 1, 'a number in [0, 1]', 'train.labelSmoothing', t.labelSmoothing);
  check(file, t.maxGradNorm === null || (nonNegative(t.maxGradNorm) && t.maxGradNorm > 0), 'null or a positive number',
    'train.maxGradNorm', t.maxGradNorm);
  check(file, positiveInteger(t.accumulationSteps), 'a positive integer', 'train.accumulationSteps', t.accumulationSteps);
  check(file, t.autocast === null || t.autocast === 'bfloat16' || t.autocast === 'float16', "null, 'bfloat16' or 'float16'",
    'train.autocast', t.autocast);
  check(file, Number.isSafeInteger(t.seed) && t.seed >= 0, 'a non-negative integer', 'train.seed', t.seed);
  check(file, positiveInteger(t.savePeriod), 'a positive integer', 'train.savePeriod', t.savePeriod);
  check(file, Number.isInteger(t.prefetch) && t.prefetch >= 0, 'a non-negative integer', 'train.prefetch', t.prefetch);
  check(file, t.threads === null || positiveInteger(t.threads), 'null or a positive integer', 'train.threads', t.threads);
  const a = c.augment;
  for (const key of ['horizontalFlip', 'randomResizedCrop', 'autoAugment'] as const) {
    check(file, typeof a[key] === 'boolean', 'true or false', `augment.${key}`, a[key]);
  }
  check(file, Number.isInteger(a.cropPadding) && a.cropPadding >= 0 && a.cropPadding <= 1024, 'an integer in [0, 1024]',
    'augment.cropPadding', a.cropPadding);
  const p = c.preprocess;
  check(file, p.channels === 1 || p.channels === 3, '1 or 3', 'preprocess.channels', p.channels);
  for (const key of ['mean', 'std'] as const) {
    const values = p[key];
    check(file, Array.isArray(values) && (values.length === 1 || values.length === p.channels) &&
      values.every((v) => typeof v === 'number' && Number.isFinite(v) && (key === 'mean' || v > 0)),
      `${p.channels === 1 ? 'one number' : `1 or ${p.channels} numbers`}${key === 'std' ? ' > 0' : ''}`, `preprocess.${key}`, values);
  }
  const inChans = c.model.inChans ?? 3;
  check(file, p.channels === inChans, `the model's inChans (${inChans})`, 'preprocess.channels', p.channels);
  const numClasses = c.model.numClasses ?? 1000;
  if (c.classes.length !== numClasses) {
    throw new ConfigError(file, `expected ${numClasses} class names (model.numClasses), received ${c.classes.length}`);
  }
}

/** Reads and validates a config file, with `overrides` (dotted keys, as `--train.epochs 5` gives them) applied on
 *  top. Relative paths are resolved against the config file's folder. */
export async function loadTrainConfig(file: string, overrides: Record<string, unknown> = {}): Promise<TrainConfig> {
  let raw: Json;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(file, e.code === 'ENOENT' ? 'no such file' : `not valid JSON: ${e.message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file, 'expected a JSON object');
  for (const [key, value] of Object.entries(overrides)) setDotted(raw, key, value);
  rejectUnknownIn(file, raw, ['model', 'classes', 'data', 'preprocess', 'augment', 'train'], 'the config');
  const model = requireObjectIn(file, raw.model, 'model') as VisionTransformerOptions;
  const base = defaults(model);
  let classes: string[];
  if (typeof raw.classes === 'string') {
    classes = await readClasses(resolvePath(file, raw.classes, 'classes'));
  } else if (Array.isArray(raw.classes) && raw.classes.every((name) => typeof name === 'string' && name !== '')) {
    classes = raw.classes as string[];
  } else {
    throw new ConfigError(file, expected('a class list file or an array of class names', 'classes', raw.classes));
  }
  const data = requireObjectIn(file, raw.data, 'data');
  rejectUnknownIn(file, data, ['train', 'val'], 'data');
  const config: TrainConfig = {
    model,
    classes,
    data: { train: dataSource(file, data.train, 'data.train'), val: data.val === undefined || data.val === null ? null : dataSource(file, data.val, 'data.val') },
    preprocess: merge(base.preprocess, raw.preprocess, 'preprocess', file),
    augment: merge(base.augment, raw.augment, 'augment', file),
    train: merge(base.train, raw.train, 'train', file),
  };
  validateSettings(file, config);
  return config;
}

function setDotted(target: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1]] = value;
}
