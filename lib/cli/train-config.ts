// The JSON config of `vitorch train` (examples/fashion-mnist.json is one): the model's options, its classes, the
// data, the preprocessing and the training settings. `vitorch train` writes the resolved config (classes as names,
// normalisation as numbers) into its save directory as config.json, which is everything `eval`, `predict` and
// `serve` need to rebuild the model, its classes and its preprocessing.
//
// One zod schema (configSchema) states every key: its type, its default and the words of its error. What a config
// leaves out is the article's recipe (its repository's train.py; the optimizer's settings come from the one table in
// ../train/optimizer-defaults, per optimizer kind). Two things follow the schema because they read files or depend
// on the config's own place: class names given as a file are read, and relative paths are resolved against the
// config file's folder.
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { readClasses } from '../data/annotations';
import { defaultPreprocess } from '../classifier';
import { ConfigError } from '../errors';
import type { VisionTransformerOptions } from '../model';
import { BATCH_SCALING, OPTIMIZER_DEFAULTS, OPTIMIZER_KINDS } from '../train/optimizer-defaults';
import { expected } from '../validate';

export { ConfigError };

type Json = Record<string, unknown>;

// Every message is `expected <what> for <key>, received <value>`: a schema's error text is the <what>.
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strict = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, {
    // The message of an unknown key lists the known ones (see messageOf).
    error: (issue) => (issue.code === 'unrecognized_keys' ? Object.keys(shape).join(', ') : 'an object'),
  });
const number = (what: string, ok: (n: number) => boolean) => z.number({ error: what }).refine(ok, { error: what });
const integer = (what: string, ok: (n: number) => boolean) => number(what, (n) => Number.isSafeInteger(n) && ok(n));
const positiveInteger = integer('a positive integer', (n) => n >= 1);
const nonNegativeInteger = integer('a non-negative integer', (n) => n >= 0);
const nonNegative = number('a non-negative number', (n) => n >= 0);
const boolean = z.boolean({ error: 'true or false' });
const quoted = (values: readonly string[]) =>
  values
    .map((v) => `'${v}'`)
    .join(', ')
    .replace(/, ([^,]*)$/, ' or $1');
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, what = quoted(values)) =>
  z.enum(values, { error: what });
const filePath = z.string({ error: 'a path' }).refine((s) => s !== '', { error: 'a path' });

/** Training files: the article's annotation lines, a folder of class folders, or IDX image and label files. */
const dataSourceSchema = z.discriminatedUnion(
  'format',
  [
    strict({ format: z.literal('idx'), images: filePath, labels: filePath }),
    strict({ format: z.literal('annotations'), file: filePath }),
    strict({ format: z.literal('folder'), root: filePath }),
  ],
  { error: "format 'idx', 'annotations' or 'folder'" },
);

const preprocessSchema = strict({
  /** [height, width] the images are brought to (the model's inputShape). Default: the model's inputShape. */
  size: z.tuple([positiveInteger, positiveInteger], { error: '[height, width] in pixels' }).optional(),
  /** Default: the model's inChans. */
  channels: z.union([z.literal(1), z.literal(3)], { error: '1 or 3' }).optional(),
  /** Default: ImageNet's for 3 channels, 0.5 for 1 (the article's preprocess_input). */
  mean: z.array(z.number(), { error: 'an array of numbers' }).optional(),
  std: z.array(z.number(), { error: 'an array of numbers' }).optional(),
  /** For image files: shorter side resized then centre crop (the article's evaluation), or letterbox. */
  resize: oneOf(['center-crop', 'letterbox']).default('center-crop'),
});

const augmentSchema = strict({
  horizontalFlip: boolean.default(true),
  /** Image files: RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) in training. */
  randomResizedCrop: boolean.default(true),
  /** In-memory IDX images: random crop after zero padding by this many pixels (0: off). */
  cropPadding: integer('an integer in [0, 1024]', (n) => n >= 0 && n <= 1024).default(0),
  /** The article's AutoAugment ImageNet policy after the crop and flip, for both kinds of data (default off). */
  autoAugment: boolean.default(false),
});

const betas = z.tuple(
  [number('a number in [0, 1)', (n) => n >= 0 && n < 1), number('a number in [0, 1)', (n) => n >= 0 && n < 1)],
  { error: '[beta1, beta2]' },
);

/** What the optimizer leaves out comes from OPTIMIZER_DEFAULTS[kind] (see the train transform below). */
const optimizerSchema = strict({
  kind: oneOf(OPTIMIZER_KINDS).default('sgd'),
  /** SGD's momentum. */
  momentum: nonNegative.optional(),
  /** SGD's Nesterov momentum. */
  nesterov: boolean.optional(),
  /** Adam's and AdamW's betas. */
  betas: betas.optional(),
  weightDecay: nonNegative.optional(),
  /** No weight decay on biases, norms, cls_token and pos_embed (timm's habit; the article decays everything). */
  decayWeightsOnly: boolean.default(false),
});

// Older configs (and the config.json of older runs) name the article's rules after "the seed"; they still read.
const LEGACY_SCHEDULE_KINDS: Record<string, string> = {
  'seed-cos': 'quadratic-warmup-cosine',
  'seed-step': 'step-decay',
};
const LEGACY_LR_SCALING: Record<string, string> = { seed: 'batch-size' };
const withLegacy = <S extends z.ZodType>(names: Record<string, string>, schema: S) =>
  z.preprocess((v) => (typeof v === 'string' && v in names ? names[v] : v), schema);

const scheduleSchema = strict({
  /** 'quadratic-warmup-cosine' and 'step-decay' are the article's 'cos' and 'step' rules (quadraticWarmupCosine,
   *  stepDecay); 'warmup-cosine' is timm's; 'constant' keeps lr. */
  kind: withLegacy(
    LEGACY_SCHEDULE_KINDS,
    oneOf(['quadratic-warmup-cosine', 'step-decay', 'warmup-cosine', 'constant']),
  ).default('quadratic-warmup-cosine'),
  /** Set the rate every step (fractional epochs) or once per epoch (the article's way). */
  unit: oneOf(['epoch', 'step']).default('epoch'),
  /** warmup-cosine: warmup epochs, starting from warmupStartLr. */
  warmup: nonNegative.default(0),
  warmupStartLr: nonNegative.default(0),
});

const trainSchema = strict({
  /** Total epochs (the article's UnFreeze_Epoch, 200: train.py:133). */
  epochs: positiveInteger.default(200),
  /** The article's Unfreeze_batch_size (train.py:134). */
  batchSize: positiveInteger.default(32),
  /** The article's Freeze_Train: this many first epochs with the backbone frozen, at their own batch size (its
   *  Freeze_batch_size, train.py:125). Default none: the article freezes only a pretrained backbone. */
  freezeEpochs: nonNegativeInteger.default(0),
  freezeBatchSize: positiveInteger.default(32),
  /** Init_lr; default the optimizer's (OPTIMIZER_DEFAULTS[kind].lr). */
  lr: number('a positive number', (n) => n > 0).optional(),
  /** Min_lr; default BATCH_SCALING.minLrRatio (0.01) times lr, as train.py:151. */
  minLr: nonNegative.optional(),
  /** 'batch-size': lr and minLr scaled by batch / 256 and clamped as the article does for ViT
   *  (batchScaledLearningRates); 'none': as given. */
  lrScaling: withLegacy(LEGACY_LR_SCALING, oneOf(['batch-size', 'none'])).default('batch-size'),
  optimizer: optimizerSchema.prefault({}),
  schedule: scheduleSchema.prefault({}),
  labelSmoothing: number('a number in [0, 1]', (n) => n >= 0 && n <= 1).default(0),
  maxGradNorm: number('null or a positive number', (n) => n > 0)
    .nullable()
    .default(null),
  accumulationSteps: positiveInteger.default(1),
  autocast: oneOf(['bfloat16', 'float16'], "null, 'bfloat16' or 'float16'").nullable().default(null),
  /** The random seed of the run (initialisation, shuffling, augmentation). */
  seed: nonNegativeInteger.default(0),
  /** Write ep%03d-loss%.3f-val_loss%.3f.pth every this many epochs (and after the last); train.py:170. */
  savePeriod: positiveInteger.default(10),
  /** Batches prepared ahead of the running step. */
  prefetch: nonNegativeInteger.default(2),
  /** libtorch intra-op threads; default all cores. */
  threads: positiveInteger.nullable().default(null),
}).transform((t, ctx) => {
  // The settings that depend on the optimizer's kind, from the one table.
  const kind = t.optimizer.kind;
  const d = OPTIMIZER_DEFAULTS[kind];
  const lr = t.lr ?? d.lr;
  const minLr = t.minLr ?? lr * BATCH_SCALING.minLrRatio;
  if (minLr > lr) issue(ctx, ['minLr'], `a number in [0, lr = ${lr}]`, minLr);
  if (t.freezeEpochs > t.epochs) issue(ctx, ['freezeEpochs'], `an integer in [0, ${t.epochs}]`, t.freezeEpochs);
  const o = t.optimizer;
  const optimizer = {
    kind,
    momentum: o.momentum ?? OPTIMIZER_DEFAULTS.sgd.momentum,
    nesterov: o.nesterov ?? OPTIMIZER_DEFAULTS.sgd.nesterov,
    // SGD has no betas; a config that switches to Adam later finds Adam's.
    betas: o.betas ?? ([...OPTIMIZER_DEFAULTS[kind === 'sgd' ? 'adam' : kind].betas] as [number, number]),
    weightDecay: o.weightDecay ?? d.weightDecay,
    decayWeightsOnly: o.decayWeightsOnly,
  };
  return {
    epochs: t.epochs,
    batchSize: t.batchSize,
    freezeEpochs: t.freezeEpochs,
    freezeBatchSize: t.freezeBatchSize,
    lr,
    minLr,
    lrScaling: t.lrScaling,
    optimizer,
    schedule: t.schedule,
    labelSmoothing: t.labelSmoothing,
    maxGradNorm: t.maxGradNorm,
    accumulationSteps: t.accumulationSteps,
    autocast: t.autocast,
    seed: t.seed,
    savePeriod: t.savePeriod,
    prefetch: t.prefetch,
    threads: t.threads,
  };
});

/**
 * Every key a config may have. `training` is the record of how a shipped model was trained (its settings and
 * scores; tools/export_default_model.py writes it into assets/fashion-mnist/config.json): accepted, so that the
 * package's own model's config reads, and left out of the result, so that a new run does not claim an old one's
 * scores. `data` may be absent: predict and serve need none, eval only data.val, and train asks for data.train
 * (trainingData) when it starts.
 */
export const configSchema = strict({
  model: z.custom<VisionTransformerOptions>(isObject, { error: 'an object of VisionTransformer options' }),
  /** The class names, or a file of them (one a line, the article's cls_classes.txt). */
  classes: z.custom<string | string[]>(
    (v) =>
      (typeof v === 'string' && v !== '') ||
      (Array.isArray(v) && v.length > 0 && v.every((name) => typeof name === 'string' && name !== '')),
    { error: 'a class list file or an array of class names' },
  ),
  data: strict({
    train: dataSourceSchema.nullable().default(null),
    val: dataSourceSchema.nullable().default(null),
  }).prefault({}),
  preprocess: preprocessSchema.prefault({}),
  augment: augmentSchema.prefault({}),
  train: trainSchema.prefault({}),
  training: z.custom<Json>(isObject, { error: 'an object' }).optional(),
}).transform(({ training: _training, ...c }, ctx) => {
  // The preprocessing the model implies, for what the config leaves out: the one set of defaults that every command
  // and the server use (lib/classifier.ts).
  const inChans = c.model.inChans ?? 3;
  const preprocess = defaultPreprocess(c.model, c.preprocess);
  const channels = preprocess.channels;
  if (channels !== inChans) issue(ctx, ['preprocess', 'channels'], `the model's inChans (${inChans})`, channels);
  for (const key of ['mean', 'std'] as const) {
    const values = preprocess[key];
    if (!((values.length === 1 || values.length === channels) && values.every((v) => key === 'mean' || v > 0))) {
      const what = `${channels === 1 ? 'one number' : `1 or ${channels} numbers`}${key === 'std' ? ' > 0' : ''}`;
      issue(ctx, ['preprocess', key], what, values);
    }
  }
  return { ...c, preprocess };
});

function issue(ctx: z.RefinementCtx, path: string[], what: string, input: unknown): void {
  ctx.addIssue({ code: 'custom', path, message: what, input });
}

/** A config as every command reads it: class names read, paths resolved, data sources null where not given. */
export type TrainConfig = Omit<z.output<typeof configSchema>, 'classes'> & { classes: string[] };
export type DataSource = z.output<typeof dataSourceSchema>;
export type PreprocessConfig = TrainConfig['preprocess'];
export type AugmentConfig = TrainConfig['augment'];
export type TrainSettings = TrainConfig['train'];
export type OptimizerConfig = TrainSettings['optimizer'];
export type ScheduleConfig = TrainSettings['schedule'];

/** The words of the first issue: `expected <what> for <key>, received <value>`, or the unknown key and the known. */
function messageOf(issue: z.core.$ZodIssue): string {
  const where = keyOf(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `unknown key '${keyOf([...issue.path, issue.keys[0]])}'; known keys: ${issue.message}`;
  }
  // A discriminated union reports the whole object; the key at fault is its discriminator, which the path names.
  const input =
    issue.code === 'invalid_union' && issue.discriminator !== undefined && isObject(issue.input)
      ? issue.input[issue.discriminator]
      : issue.input;
  return expected(issue.message, where, input);
}

/** train.optimizer.betas[0]: the key as a config's reader would write it. */
function keyOf(path: PropertyKey[]): string {
  if (path.length === 0) return 'the config';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`))
    .join('');
}

/** Reads and validates a config file, with `overrides` (dotted keys, as `--train.epochs 5` gives them) applied on
 *  top. Relative paths are resolved against the config file's folder. data.train and data.val may be absent (null). */
export async function loadTrainConfig(file: string, overrides: Record<string, unknown> = {}): Promise<TrainConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(file, e.code === 'ENOENT' ? 'no such file' : `not valid JSON: ${e.message}`);
  }
  if (!isObject(raw)) throw new ConfigError(file, 'expected a JSON object');
  for (const [key, value] of Object.entries(overrides)) setDotted(raw, key, value);
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigError(file, messageOf(parsed.error.issues[0]));
  const c = parsed.data;
  const at = (p: string) => path.resolve(path.dirname(file), p);
  const classes = typeof c.classes === 'string' ? await readClasses(at(c.classes)) : c.classes;
  const numClasses = c.model.numClasses ?? 1000;
  if (classes.length !== numClasses) {
    throw new ConfigError(file, `expected ${numClasses} class names (model.numClasses), received ${classes.length}`);
  }
  const resolve = (source: DataSource | null): DataSource | null => {
    if (source === null) return null;
    switch (source.format) {
      case 'idx':
        return { format: 'idx', images: at(source.images), labels: at(source.labels) };
      case 'annotations':
        return { format: 'annotations', file: at(source.file) };
      case 'folder':
        return { format: 'folder', root: at(source.root) };
    }
  };
  return { ...c, classes, data: { train: resolve(c.data.train), val: resolve(c.data.val) } };
}

/** The training data, which only training needs: a ConfigError naming `file` when the config has none. */
export function trainingData(config: TrainConfig, file: string): DataSource {
  if (config.data.train === null) {
    throw new ConfigError(
      file,
      expected("a data source (format 'idx', 'annotations' or 'folder')", 'data.train', null),
    );
  }
  return config.data.train;
}

function setDotted(target: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(node[part])) node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1]] = value;
}
