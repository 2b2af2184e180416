// The model a server serves: the network, its name and version on the wire, its class names, the shape of one
// input sample and the preprocessing /v1/classify applies. The protocol routes read these; only forward() runs it.
import * as path from 'path';
import {
  Classifier,
  ClassifierConfig,
  defaultModelDir,
  loadClassifier,
  preprocessorFor,
  readClassifierConfig,
} from '../classifier';
import type { Preprocessor } from '../data/preprocess';
import {
  applyInferencePrecision,
  describeInferencePrecision,
  inferencePrecisionOf,
  modelInput,
} from '../inference-precision';
import type { InferencePrecision } from '../inference-precision';
import type { ModelDType, VisionTransformer } from '../model';
import type { LoadPretrainedOptions } from '../pretrained/load-pretrained';
import { loadPretrainedClassifier } from '../pretrained/pretrained-classifier';
import { binding } from '../binding';
import { Tensor } from '../tensor';
import type { Device } from '../tensor';
import type { Float32Bytes } from './binary-tensor';

export interface ModelSource {
  weights?: string;
  config?: string;
  /** For weights without config: what the checkpoint cannot say (loadPretrained's options). */
  pretrained?: LoadPretrainedOptions;
  classifier?: Classifier;
  device?: Device;
  dtype?: InferencePrecision;
}

export class ServedModel {
  /** Models are served as version "1": one checkpoint per model name (model-repository.ts MODEL_VERSION). */
  readonly version = '1';
  /** Whether the server offers this model's `attention_rollout` output (ServerOptions.attentionOutput). */
  attentionOutput = false;
  /** [C, H, W] of one sample. */
  readonly sampleShape: [number, number, number];
  readonly sampleSize: number;

  private constructor(
    readonly name: string,
    readonly model: VisionTransformer,
    readonly classes: readonly string[],
    readonly preprocessor: Preprocessor,
    /** The same preprocessing with the article's letterbox (aspect kept, grey borders) instead of the centre crop;
     *  null for a Classifier given ready-made, whose config is not known. */
    readonly letterbox: Preprocessor | null,
    /** Where the weights came from, for the logs and the model config. */
    readonly source: string,
    /** What loadPretrained assumed and mapped reading weights without a config, for the startup lines; [] else. */
    readonly notes: readonly string[],
    private readonly owned: boolean,
  ) {
    const o = model.options;
    this.sampleShape = [o.inChans, o.inputShape[0], o.inputShape[1]];
    this.sampleSize = this.sampleShape[0] * this.sampleShape[1] * this.sampleShape[2];
  }

  /** Loads `source` (off the event loop): the embedded model, a trained model and its config, or weights without a
   *  config as loadPretrained reads them (the article's ViT-B/16 .pth among them). */
  static async load(name: string, source: ModelSource): Promise<ServedModel> {
    let classifier: Classifier;
    let config: ClassifierConfig | null = null;
    let from: string;
    let notes: string[] = [];
    let owned = true;
    if (source.classifier) {
      classifier = source.classifier;
      from = 'a Classifier given to createServer';
      owned = false;
    } else if (source.weights && source.config) {
      config = readClassifierConfig(source.config);
      classifier = await loadClassifier(config, source.weights);
      from = source.weights;
    } else if (source.weights) {
      // The family, model and classes from the checkpoint itself: the article's ViT-B/16 .pth reads as ViT-B/16 with
      // 1000 classes named by index, a transformers folder with its id2label and preprocessor_config.json.
      const loaded = await loadPretrainedClassifier(source.weights, source.pretrained ?? {});
      ({ classifier, config, notes } = loaded);
      from = `${source.weights} (${loaded.family})`;
    } else {
      const dir = defaultModelDir();
      config = readClassifierConfig(path.join(dir, 'config.json'));
      classifier = await loadClassifier(config, path.join(dir, 'weights.pth'));
      from = `the embedded default model (${dir})`;
    }
    const model = classifier.model;
    try {
      if (source.dtype !== undefined) applyInferencePrecision(model, source.dtype, source.device);
      else if (source.device !== undefined) model.to({ device: source.device });
    } catch (error) {
      if (owned) model.dispose();
      throw error;
    }
    const letterbox = config
      ? preprocessorFor({ ...config, preprocess: { ...config.preprocess, resize: 'letterbox' } })
      : null;
    return new ServedModel(name, model, classifier.classes, classifier.preprocessor, letterbox, from, notes, owned);
  }

  get numClasses(): number {
    return this.classes.length;
  }
  /** The weights' dtype; float32 for an int8 model, whose int8 copy is made from float32 weights. */
  get dtype(): string {
    return this.model.dtype;
  }
  /** The precision the model computes in: its dtype, or 'int8' once quantized. */
  get precision(): InferencePrecision {
    return inferencePrecisionOf(this.model);
  }
  /** The precision and device in words, for the startup line and the model metadata. */
  get precisionDescription(): string {
    return describeInferencePrecision(this.model);
  }
  get device(): string {
    return this.model.device;
  }

  /** One request's input as a tensor of the model's dtype and device, made as the request arrives: a batch of
   *  them then goes to forward() without another copy on the event loop. Binary request data is copied once,
   *  from the body's bytes into the tensor. */
  toInput(values: Float32Array | Float32Bytes, samples: number): Tensor {
    const shape = [samples, ...this.sampleShape];
    if (values instanceof Float32Array) return modelInput(this.model, values, shape);
    const dtype = this.model.dtype === 'float32' ? undefined : (this.model.dtype as ModelDType);
    const device = this.model.device === 'cpu' ? undefined : (this.model.device as Device);
    let native = binding.tensorFromTypedArray(values.littleEndianFloat32, shape, 'float32', dtype);
    if (device !== undefined) {
      const moved = native.to(device, null);
      native.dispose();
      native = moved;
    }
    return new Tensor(native);
  }

  /** Logits (float32 whatever the weights' dtype) of a batch of toInput() tensors, in their order: they are joined
   *  and run on the native compute thread. */
  async forward(inputs: Tensor[]): Promise<Float32Array> {
    using logits = await this.model.forwardAsync(inputs);
    return logits.toFloat32Array();
  }

  /** One forward pass before the server says it is ready: the first pass allocates and plans what later ones reuse. */
  async warmUp(): Promise<void> {
    using input = this.toInput(new Float32Array(this.sampleSize), 1);
    await this.forward([input]);
  }

  dispose(): void {
    if (this.owned && !this.model.disposed) this.model.dispose();
  }
}
