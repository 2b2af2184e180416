// A trained classifier as `vitorch train` leaves it: the model's options, its class names and its preprocessing
// (config.json), and its weights. loadClassifier rebuilds all three; the package's embedded default model (a ViT
// trained here on Fashion-MNIST, assets/fashion-mnist/) is one, and `defaultClassifier()` loads it.
import * as fs from 'fs';
import * as path from 'path';
import { Preprocessor } from './data/preprocess';
import type { ImageSource } from './data/preprocess';
import { IMAGENET_MEAN, IMAGENET_STD } from './data/preprocess';
import { VisionTransformer, VisionTransformerOptions } from './model';
import { tensor } from './tensor';
import { Prediction, softmaxRows, topK } from './top-classes';
import { expected } from './validate';

export interface ClassifierConfig {
  model: VisionTransformerOptions;
  classes: string[];
  /** The evaluation preprocessing; when absent, the seed's (shorter side to inputShape, centre crop, ImageNet mean
   *  and std; grey 0.5 / 0.5 for one channel). */
  preprocess?: {
    size?: [number, number];
    channels?: 1 | 3;
    mean?: number[];
    std?: number[];
    resize?: 'center-crop' | 'letterbox';
  };
}

export type { Prediction };

export class Classifier {
  constructor(readonly model: VisionTransformer, readonly classes: string[], readonly preprocessor: Preprocessor) {}

  /** The top-k classes of each image (a path or encoded bytes), decoded and preprocessed off the main thread, in
   *  one batched forward pass off the event loop. */
  async classify(images: ImageSource[], k = 5): Promise<Prediction[][]> {
    const [c, h, w] = this.preprocessor.sampleShape;
    const perImage = c * h * w;
    const pixels = new Float32Array(images.length * perImage);
    await Promise.all(images.map((image, i) => this.preprocessor.evaluate(image, pixels, i * perImage)));
    using input = tensor(pixels, [images.length, c, h, w]);
    using logits = await this.model.forwardAsync(input);
    return softmaxRows(logits.toFloat32Array(), images.length).map((row) => topK(row, k, this.classes));
  }

  dispose(): void { this.model.dispose(); }
  [Symbol.dispose](): void { this.dispose(); }
}

/** Reads the model, classes and preprocessing of a config.json that `vitorch train` wrote (or any JSON with at least
 *  `model` and `classes`). */
export function readClassifierConfig(file: string): ClassifierConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RangeError(`${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON: ${(error as Error).message}`}`);
  }
  const config = raw as Partial<ClassifierConfig>;
  if (typeof config !== 'object' || config === null || typeof config.model !== 'object' || config.model === null) {
    throw new RangeError(`${file}: ${expected('a config with a model object', 'model', config?.model)}`);
  }
  if (!Array.isArray(config.classes) || !config.classes.every((name) => typeof name === 'string')) {
    throw new RangeError(`${file}: ${expected('an array of class names', 'classes', config.classes)}`);
  }
  const numClasses = config.model.numClasses ?? 1000;
  if (config.classes.length !== numClasses) {
    throw new RangeError(`${file}: expected ${numClasses} class names (model.numClasses), received ${config.classes.length}`);
  }
  return config as ClassifierConfig;
}

/** The preprocessing a config states, with the seed's defaults for what it leaves out. */
export function preprocessorFor(config: ClassifierConfig): Preprocessor {
  const inChans = config.model.inChans ?? 3;
  const p = config.preprocess ?? {};
  const grey = inChans === 1;
  return new Preprocessor({
    size: p.size ?? config.model.inputShape ?? [224, 224],
    channels: p.channels ?? (grey ? 1 : 3),
    mean: p.mean ?? (grey ? [0.5] : IMAGENET_MEAN),
    std: p.std ?? (grey ? [0.5] : IMAGENET_STD),
    resize: p.resize ?? 'center-crop',
  });
}

/** Builds the model of `configFile`, loads `weightsFile` into it strictly (off the event loop), in evaluation mode. */
export async function loadClassifier(configFile: string, weightsFile: string): Promise<Classifier> {
  const config = readClassifierConfig(configFile);
  const model = new VisionTransformer(config.model);
  try {
    await model.loadStateDictAsync(weightsFile);
  } catch (error) {
    model.dispose();
    throw error;
  }
  model.eval();
  return new Classifier(model, config.classes, preprocessorFor(config));
}

/** The folder of the embedded default model: config.json, weights.pth and a few real test images in images/. */
export function defaultModelDir(): string {
  // From dist/lib (compiled) the package root is two levels up; from lib/ (ts-jest) one.
  const candidates = [path.join(__dirname, '..', '..', 'assets', 'fashion-mnist'), path.join(__dirname, '..', 'assets', 'fashion-mnist')];
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
  return fs.readdirSync(dir).filter((name) => name.endsWith('.png')).sort().map((name) => {
    // <test-set index>-<class index>.png
    const classIndex = Number(/-(\d+)\.png$/.exec(name)?.[1]);
    return { file: path.join(dir, name), label: config.classes[classIndex] };
  });
}
