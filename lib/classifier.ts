// A trained classifier as `vitorch train` leaves it: the model's options, its class names and its preprocessing
// (config.json), and its weights. This is the one path from a config to a running model: the server, `vitorch
// predict`, `eval`, `serve` and `inspect --config` all read configs with readClassifierConfig and build models with
// loadClassifier, so that every config the package writes (a `vitorch train` save folder's config.json, training
// sections and all) or ships (assets/fashion-mnist/config.json, examples/*.json) runs everywhere alike. The
// package's embedded default model (a ViT trained here on Fashion-MNIST, assets/fashion-mnist/) is one, and
// `defaultClassifier()` loads it.
import * as fs from 'fs';
import * as path from 'path';
import { parseClasses } from './data/annotations';
import { Preprocessor } from './data/preprocess';
import type { ImageSource } from './data/preprocess';
import { IMAGENET_MEAN, IMAGENET_STD } from './data/preprocess';
import { ConfigError, StateDictError } from './errors';
import { applyInferencePrecision, modelInput, requireInferencePrecision } from './inference-precision';
import type { InferencePrecision } from './inference-precision';
import { VisionTransformer, VisionTransformerOptions } from './model';
import { Prediction, softmaxRows, topK } from './top-classes';
import { describe, expected } from './validate';

/** The evaluation preprocessing of a model's images. */
export interface PreprocessConfig {
  /** [height, width] the images are brought to: the model's inputShape. */
  size: [number, number];
  channels: 1 | 3;
  mean: number[];
  std: number[];
  /** Shorter side resized then centre crop (the article's evaluation), or letterbox. */
  resize: 'center-crop' | 'letterbox';
}

export interface ClassifierConfig {
  model: VisionTransformerOptions;
  classes: string[];
  /** The evaluation preprocessing; what it leaves out is the article's (shorter side to inputShape, centre crop,
   *  ImageNet mean and std; grey 0.5 / 0.5 for one channel). readClassifierConfig fills it in. */
  preprocess?: Partial<PreprocessConfig>;
  /** The file it was read from (readClassifierConfig sets it), named in errors. */
  file?: string;
}

/** A config as readClassifierConfig returns it: the preprocessing complete. */
export interface ResolvedClassifierConfig extends ClassifierConfig {
  preprocess: PreprocessConfig;
}

/** The sections of a config that describe the model. */
const MODEL_KEYS = ['model', 'classes', 'preprocess'];
/** The sections only training reads (lib/cli/train-config.ts validates them), and the record of how a shipped
 *  model was trained and what it scored (tools/export_default_model.py writes it). Running a model ignores them. */
const TRAINING_KEYS = ['data', 'augment', 'train', 'training'];
const PREPROCESS_KEYS = ['size', 'channels', 'mean', 'std', 'resize'];

export type { Prediction };

export class Classifier {
  constructor(
    readonly model: VisionTransformer,
    readonly classes: string[],
    readonly preprocessor: Preprocessor,
  ) {}

  /** The top-k classes of each image (a path or encoded bytes), decoded and preprocessed off the main thread, in
   *  one batched forward pass off the event loop. */
  async classify(images: ImageSource[], k = 5): Promise<Prediction[][]> {
    const [c, h, w] = this.preprocessor.sampleShape;
    const perImage = c * h * w;
    const pixels = new Float32Array(images.length * perImage);
    await Promise.all(images.map((image, i) => this.preprocessor.evaluate(image, pixels, i * perImage)));
    return this.classifyPixels(pixels, images.length, k);
  }

  /** The top-k classes of `count` images already preprocessed (this.preprocessor's output, one after another in
   *  `pixels`), in one forward pass off the event loop, at the model's precision (the pixels become its dtype). */
  async classifyPixels(pixels: Float32Array, count: number, k = 5): Promise<Prediction[][]> {
    using input = modelInput(this.model, pixels, [count, ...this.preprocessor.sampleShape]);
    using logits = await this.model.forwardAsync(input);
    return softmaxRows(logits.toFloat32Array(), count).map((row) => topK(row, k, this.classes));
  }

  dispose(): void {
    this.model.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON object in `file`; a ConfigError naming the file when it is missing, not JSON or not an object. */
export function readConfigJson(file: string): Json {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(file, e.code === 'ENOENT' ? 'no such file' : `not valid JSON: ${e.message}`);
  }
  if (!isObject(raw)) throw new ConfigError(file, `expected a JSON object, received ${describe(raw)}`);
  return raw;
}

/**
 * Reads the model, classes and preprocessing of a config: the config.json `vitorch train` writes, any training
 * config (examples/fashion-mnist.json), the embedded model's, or any JSON with at least `model` and `classes`.
 * `classes` is the names, or the path of a class list file (one name per line, relative to the config's folder).
 * The training sections are left to training; any other key is refused, so that a misspelt `preprocess` is not
 * silently replaced by defaults. Errors are ConfigErrors naming the file (a bad class list file: a DataError).
 */
export function readClassifierConfig(file: string): ResolvedClassifierConfig {
  return resolveClassifierConfig(readConfigJson(file), file);
}

/** readClassifierConfig of a config already parsed; `file` names it in errors and anchors a relative class list. */
export function resolveClassifierConfig(raw: Json, file: string): ResolvedClassifierConfig {
  const known = [...MODEL_KEYS, ...TRAINING_KEYS];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key))
      throw new ConfigError(file, `unknown key '${key}' in the config; known keys: ${known.join(', ')}`);
  }
  const fail: Fail = (what, where, value) => {
    throw new ConfigError(file, expected(what, where, value));
  };
  if (!isObject(raw.model)) fail('an object of model options', 'model', raw.model);
  const model = raw.model as VisionTransformerOptions;
  let classes: string[];
  if (typeof raw.classes === 'string' && raw.classes !== '') {
    const listFile = path.resolve(path.dirname(file), raw.classes);
    let text: string;
    try {
      text = fs.readFileSync(listFile, 'utf8');
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new ConfigError(file, `classes: ${listFile}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    }
    classes = parseClasses(text, listFile);
  } else if (Array.isArray(raw.classes) && raw.classes.every((name) => typeof name === 'string' && name !== '')) {
    classes = raw.classes as string[];
  } else {
    return fail('a class list file or an array of class names', 'classes', raw.classes);
  }
  const numClasses = model.numClasses ?? 1000;
  if (classes.length !== numClasses) {
    throw new ConfigError(file, `expected ${numClasses} class names (model.numClasses), received ${classes.length}`);
  }
  if (raw.preprocess !== undefined && !isObject(raw.preprocess)) fail('an object', 'preprocess', raw.preprocess);
  const given = (raw.preprocess ?? {}) as Json;
  for (const key of Object.keys(given)) {
    if (!PREPROCESS_KEYS.includes(key)) {
      throw new ConfigError(file, `unknown key 'preprocess.${key}'; known keys: ${PREPROCESS_KEYS.join(', ')}`);
    }
  }
  const preprocess = defaultPreprocess(model, given as Partial<PreprocessConfig>);
  checkPreprocess(preprocess, model, fail);
  return { model, classes, preprocess, file };
}

/** The preprocessing `given` states, with the article's defaults for what it leaves out. */
export function defaultPreprocess(
  model: VisionTransformerOptions,
  given: Partial<PreprocessConfig> = {},
): PreprocessConfig {
  const grey = (model.inChans ?? 3) === 1;
  const size = model.inputShape ?? [224, 224];
  return {
    size: given.size ?? [size[0], size[1]],
    channels: given.channels ?? (grey ? 1 : 3),
    mean: given.mean ?? (grey ? [0.5] : [...IMAGENET_MEAN]),
    std: given.std ?? (grey ? [0.5] : [...IMAGENET_STD]),
    resize: given.resize ?? 'center-crop',
  };
}

type Fail = (what: string, where: string, value: unknown) => never;

function checkPreprocess(p: PreprocessConfig, model: VisionTransformerOptions, fail: Fail): void {
  const inputShape = model.inputShape ?? [224, 224];
  if (!Array.isArray(p.size) || p.size.length !== 2 || p.size[0] !== inputShape[0] || p.size[1] !== inputShape[1]) {
    fail(`the model's inputShape [${inputShape.join(', ')}]`, 'preprocess.size', p.size);
  }
  const inChans = model.inChans ?? 3;
  if (p.channels !== 1 && p.channels !== 3) fail('1 or 3', 'preprocess.channels', p.channels);
  if (p.channels !== inChans) fail(`the model's inChans (${inChans})`, 'preprocess.channels', p.channels);
  for (const key of ['mean', 'std'] as const) {
    const values: unknown = p[key];
    const ok =
      Array.isArray(values) &&
      (values.length === 1 || values.length === p.channels) &&
      values.every((v) => typeof v === 'number' && Number.isFinite(v) && (key === 'mean' || v > 0));
    const what = `${p.channels === 1 ? 'one number' : `1 or ${p.channels} numbers`}${key === 'std' ? ' > 0' : ''}`;
    if (!ok) fail(what, `preprocess.${key}`, values);
  }
  if (p.resize !== 'center-crop' && p.resize !== 'letterbox')
    fail("'center-crop' or 'letterbox'", 'preprocess.resize', p.resize);
}

/** The preprocessor of a config's preprocessing, with the article's defaults for what it leaves out. */
export function preprocessorFor(config: ClassifierConfig): Preprocessor {
  const p = defaultPreprocess(config.model, config.preprocess);
  return new Preprocessor({ size: p.size, channels: p.channels, mean: p.mean, std: p.std, resize: p.resize });
}

export interface LoadClassifierOptions {
  /** Read training checkpoints that pickle other objects too (timm's model_best.pth.tar). Default false. */
  skipUnknownGlobals?: boolean;
  /** The precision to run in: a dtype of the weights (model.to), or 'int8' for dynamic int8 quantization on the CPU
   *  (model.quantize()). Images are given as ever; the classifier makes them the model's input. Default float32, the
   *  checkpoint's: PyTorch's numbers. */
  dtype?: InferencePrecision;
}

/**
 * Builds the model a config describes (a config file, or one readClassifierConfig returned) and loads
 * `weightsFile` into it strictly, off the event loop: every key present, none extra, every shape equal, in
 * evaluation mode, then at `options.dtype`'s precision. A fine-tuning checkpoint of another head or grid is refused
 * here, not adapted as `vitorch train --weights` does. Bad model options are a ConfigError naming the config; a
 * CheckpointError names the weights; a StateDictError is given both names, since the native message cannot know them;
 * an unknown dtype is a RangeError naming the accepted ones, before anything is read.
 */
export async function loadClassifier(
  config: string | ClassifierConfig,
  weightsFile: string,
  options: LoadClassifierOptions = {},
): Promise<Classifier> {
  const dtype = options.dtype === undefined ? undefined : requireInferencePrecision(options.dtype, 'dtype');
  const resolved = typeof config === 'string' ? readClassifierConfig(config) : config;
  const configName = resolved.file ?? 'the config';
  let model: VisionTransformer;
  try {
    model = new VisionTransformer(resolved.model);
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError)
      throw new ConfigError(configName, `model: ${error.message}`);
    throw error;
  }
  try {
    await model.loadStateDictAsync(weightsFile, {
      strict: true,
      skipUnknownGlobals: options.skipUnknownGlobals ?? false,
    });
    model.eval();
    if (dtype !== undefined) applyInferencePrecision(model, dtype);
    return new Classifier(model, resolved.classes, preprocessorFor(resolved));
  } catch (error) {
    model.dispose();
    if (error instanceof StateDictError) {
      throw new StateDictError(
        `${weightsFile}: not the weights of the model that ${configName} describes ` +
          `(its 'model' options); ${error.message}`,
      );
    }
    throw error;
  }
}

/** The folder of the embedded default model: config.json, weights.pth and a few real test images in images/. */
export function defaultModelDir(): string {
  // From dist/lib (compiled) the package root is two levels up; from lib/ (ts-jest) one.
  const candidates = [
    path.join(__dirname, '..', '..', 'assets', 'fashion-mnist'),
    path.join(__dirname, '..', 'assets', 'fashion-mnist'),
  ];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'config.json')));
  if (!found) throw new Error(`vitorch: the embedded default model is missing (looked in ${candidates.join(' and ')})`);
  return found;
}

/** The package's embedded default: a ViT trained by vitorch on Fashion-MNIST (28x28 grey images, 10 classes). */
export function defaultClassifier(): Promise<Classifier> {
  const dir = defaultModelDir();
  return loadClassifier(path.join(dir, 'config.json'), path.join(dir, 'weights.pth'));
}

/** The real Fashion-MNIST test images shipped with the default model, with their true labels. */
export function defaultModelImages(): { file: string; label: string }[] {
  const dir = path.join(defaultModelDir(), 'images');
  const config = readClassifierConfig(path.join(defaultModelDir(), 'config.json'));
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.png'))
    .sort()
    .map((name) => {
      // <test-set index>-<class index>.png
      const classIndex = Number(/-(\d+)\.png$/.exec(name)?.[1]);
      return { file: path.join(dir, name), label: config.classes[classIndex] };
    });
}
