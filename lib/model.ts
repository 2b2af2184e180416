// VisionTransformer: the article's ViT, run by libtorch. Options, defaults, parameter names and numbers are
// the article's; see README.md for the few places where its behaviour is kept on purpose.
import { binding, NativeEntries, NativeLoadOptions, NativeModelOptions, NativeVisionTransformer } from './binding';
// Defines Symbol.dispose where the runtime lacks it, before the classes below use it.
import './dispose';
import { AttentionRolloutOptions, validateRolloutOptions } from './attention';
import { saveCheckpoint, saveCheckpointAsync, SaveCheckpointOptions } from './checkpoint';
import { Device, Tensor } from './tensor';
import { int8NeedsReducedRange, warnIfSlowPrecision } from './precision-advice';
import {
  expected,
  isDevice,
  rejectUnknownKeys,
  requireBoolean,
  requireDevice,
  requireInteger,
  requireNumber,
  requireObject,
  requireShape,
  requireString,
  withCallerStack,
} from './validate';

/** The dtypes a model's weights can have. */
export type ModelDType = 'float32' | 'float64' | 'float16' | 'bfloat16';
export const MODEL_DTYPES: readonly ModelDType[] = ['float32', 'float64', 'float16', 'bfloat16'];

function requireModelDType(value: unknown, argument: string): ModelDType {
  if (!(MODEL_DTYPES as readonly unknown[]).includes(value)) {
    throw new RangeError(expected(`one of ${MODEL_DTYPES.join(', ')}`, argument, value));
  }
  return value as ModelDType;
}

export interface VisionTransformerOptions {
  /** [height, width] of the images the model takes. Default [224, 224]. */
  inputShape?: [number, number];
  /** Side of the square patches. Default 16. */
  patchSize?: number;
  /** Image channels. Default 3. */
  inChans?: number;
  /** Classes of the head; 0 means no head (forward returns the class token's features). Default 1000. */
  numClasses?: number;
  /** Width of every token. Default 768. */
  numFeatures?: number;
  /** Number of encoder blocks. Default 12. */
  depth?: number;
  /** Attention heads; must divide numFeatures. Default 12. */
  numHeads?: number;
  /** MLP hidden width as a multiple of numFeatures. Default 4. */
  mlpRatio?: number;
  /** Bias in the q, k, v projection. Default true. */
  qkvBias?: boolean;
  /** Dropout after the position embedding, attention projection and MLP (training only). Default 0.1. */
  dropRate?: number;
  /** Dropout on the attention weights (training only). Default 0.1. */
  attnDropRate?: number;
  /** Stochastic depth of the last block; earlier blocks get a linear ramp from 0 (training only). Default 0.1. */
  dropPathRate?: number;
  /** The MLP's GELU: 'gelu-tanh' (the article's tanh approximation) or 'gelu' (the exact erf form, which timm's and
   *  Hugging Face transformers' ViTs use). Default 'gelu-tanh'. */
  activation?: Activation;
  /** eps of every LayerNorm, in (0, 1). Default 1e-6 (the article's and timm's); transformers' ViT uses 1e-12. */
  layerNormEps?: number;
}

/** The MLP activations a VisionTransformer can have. */
export type Activation = 'gelu-tanh' | 'gelu';
export const ACTIVATIONS: readonly Activation[] = ['gelu-tanh', 'gelu'];

export interface VitOptions {
  /** [height, width] of the input images. Default [224, 224]. */
  inputShape?: [number, number];
  /** A torch.save'd state_dict of the 1000-class ViT-B/16 (e.g. 'model_data/vit-patch_16.pth'), loaded strictly. */
  pretrained?: string | false;
  /** Classes of the head; anything but 1000 gets a freshly initialised head, 0 none. Default 1000. */
  numClasses?: number;
}

export interface LoadStateDictOptions {
  /** Require the checkpoint's keys to equal the model's exactly. Default true. */
  strict?: boolean;
  /** Resample a pos_embed saved for another square patch grid (e.g. 24x24 from a 384x384 model) to this model's,
   *  bicubically as the article's forward does. Default false: a different grid is a shape mismatch. */
  resamplePosEmbed?: boolean;
  /** Keep the model's own head when the checkpoint's is for another class count (or absent). Default false. */
  keepModelHead?: boolean;
  /** Read a checkpoint file whose pickle also holds objects of unknown Python globals (timm's model_best.pth.tar:
   *  an argparse.Namespace, numpy scalars) as inert placeholders, never imported or called; `notes` names them.
   *  See LoadCheckpointOptions.skipUnknownGlobals. Default false: such a file is refused by name. */
  skipUnknownGlobals?: boolean;
}

export interface LoadReport {
  /** Keys of the model the checkpoint did not have (only possible when not strict). */
  missingKeys: string[];
  /** Keys of the checkpoint the model does not have (only possible when not strict). */
  unexpectedKeys: string[];
  /** What was done to the checkpoint on the way in (adaptations, unwrapping), one line each. */
  notes: string[];
}

const MODEL_OPTION_KEYS = [
  'inputShape',
  'patchSize',
  'inChans',
  'numClasses',
  'numFeatures',
  'depth',
  'numHeads',
  'mlpRatio',
  'qkvBias',
  'dropRate',
  'attnDropRate',
  'dropPathRate',
  'activation',
  'layerNormEps',
] as const;

function validateInputShape(value: unknown, argument: string): [number, number] {
  const shape = requireShape(value, argument);
  if (shape.length !== 2 || shape.some((side) => side < 1)) {
    throw new RangeError(expected('[height, width] with positive sides', argument, value));
  }
  return shape as [number, number];
}

function validateModelOptions(options: unknown): Partial<NativeModelOptions> {
  const o = requireObject(options, 'VisionTransformer options');
  rejectUnknownKeys(o, MODEL_OPTION_KEYS, 'VisionTransformer options');
  const result: Partial<NativeModelOptions> = {};
  const rate = (key: 'dropRate' | 'attnDropRate' | 'dropPathRate') => {
    if (o[key] !== undefined) result[key] = requireNumber(o[key], key, (n) => n >= 0 && n < 1, 'a number in [0, 1)');
  };
  if (o.inputShape !== undefined) result.inputShape = validateInputShape(o.inputShape, 'inputShape');
  if (o.patchSize !== undefined) result.patchSize = requireInteger(o.patchSize, 'patchSize', 1, 224);
  if (o.inChans !== undefined) result.inChans = requireInteger(o.inChans, 'inChans', 1);
  if (o.numClasses !== undefined) result.numClasses = requireInteger(o.numClasses, 'numClasses', 0);
  if (o.numFeatures !== undefined) result.numFeatures = requireInteger(o.numFeatures, 'numFeatures', 1);
  if (o.depth !== undefined) result.depth = requireInteger(o.depth, 'depth', 0);
  if (o.numHeads !== undefined) result.numHeads = requireInteger(o.numHeads, 'numHeads', 1);
  if (o.mlpRatio !== undefined)
    result.mlpRatio = requireNumber(o.mlpRatio, 'mlpRatio', (n) => n > 0, 'a positive number');
  if (o.qkvBias !== undefined) result.qkvBias = requireBoolean(o.qkvBias, 'qkvBias');
  rate('dropRate');
  rate('attnDropRate');
  rate('dropPathRate');
  if (o.activation !== undefined) {
    if (!(ACTIVATIONS as readonly unknown[]).includes(o.activation)) {
      throw new RangeError(
        expected(`one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}`, 'activation', o.activation),
      );
    }
    result.activation = o.activation as Activation;
  }
  if (o.layerNormEps !== undefined)
    result.layerNormEps = requireNumber(o.layerNormEps, 'layerNormEps', (n) => n > 0 && n < 1, 'a number in (0, 1)');
  // Cross-option rules (numHeads divides numFeatures, inputShape >= patchSize) are checked natively with the
  // defaults filled in.
  return result;
}

function validateVitOptions(options: unknown) {
  const o = requireObject(options, 'vit options');
  rejectUnknownKeys(o, ['inputShape', 'pretrained', 'numClasses'], 'vit options');
  return {
    inputShape: o.inputShape === undefined ? undefined : validateInputShape(o.inputShape, 'inputShape'),
    pretrained:
      o.pretrained === undefined || o.pretrained === false ? undefined : requireString(o.pretrained, 'pretrained'),
    numClasses: o.numClasses === undefined ? undefined : requireInteger(o.numClasses, 'numClasses', 0),
  };
}

function validateLoadOptions(options: unknown): NativeLoadOptions {
  const o = requireObject(options, 'loadStateDict options');
  rejectUnknownKeys(o, ['strict', 'resamplePosEmbed', 'keepModelHead', 'skipUnknownGlobals'], 'loadStateDict options');
  const flag = (key: string, fallback: boolean) => (o[key] === undefined ? fallback : requireBoolean(o[key], key));
  return {
    strict: flag('strict', true),
    resamplePosEmbed: flag('resamplePosEmbed', false),
    keepModelHead: flag('keepModelHead', false),
    skipUnknownGlobals: flag('skipUnknownGlobals', false),
  };
}

function requireTensor(value: unknown, argument: string): Tensor {
  if (!(value instanceof Tensor)) throw new TypeError(expected('a Tensor', argument, value));
  return value;
}

function toEntries(native: NativeEntries): [string, Tensor][] {
  return native.map(([name, value]) => [name, new Tensor(value)]);
}

// Set while a VisionTransformer adopts a native model made by vit(); see the constructor.
let adopting: NativeVisionTransformer | undefined;

/** The call as the user wrote it, for the precision warning: "model.to({ dtype: 'float16' })". */
function describeMove(device: string | null, dtype: string | null): string {
  const parts = [device === null ? '' : `device: '${device}'`, dtype === null ? '' : `dtype: '${dtype}'`].filter(
    Boolean,
  );
  return `model.to({ ${parts.join(', ')} })`;
}

export class VisionTransformer {
  /** @internal */
  readonly native: NativeVisionTransformer;

  constructor(options: VisionTransformerOptions = {}) {
    if (adopting) {
      this.native = adopting;
      adopting = undefined;
    } else {
      this.native = new binding.NativeVisionTransformer(validateModelOptions(options));
    }
  }

  /** @internal */
  static adopt(native: NativeVisionTransformer): VisionTransformer {
    adopting = native;
    return new VisionTransformer();
  }

  /** The options the model was built with, defaults filled in. */
  get options(): Required<VisionTransformerOptions> {
    return this.native.options;
  }

  /** Runs the model on the calling thread. In evaluation mode no autograd graph is recorded. */
  forward(input: Tensor): Tensor {
    return new Tensor(this.native.forward(requireTensor(input, 'input').native));
  }

  /** Runs the model on vitorch's compute thread; the event loop stays free, and no libuv pool thread is taken
   *  (fs, zlib and sharp keep all of them). Async calls run one after another in call order, whichever model they
   *  are for (their promises settle in that order). An array of inputs is one batch: they are joined along the first
   *  dimension on the compute thread, not on the event loop (a server hands over its queued requests so), and the
   *  logits come back in the same order. */
  forwardAsync(input: Tensor | readonly Tensor[]): Promise<Tensor> {
    const callerStack = new Error().stack;
    const native = Array.isArray(input)
      ? input.map((part, i) => requireTensor(part, `input[${i}]`).native)
      : requireTensor(input, 'input').native;
    const running = this.native.forwardAsync(native);
    return withCallerStack(
      running.then((output) => new Tensor(output)),
      callerStack,
    );
  }

  /** The class token after the final norm, before the head: [N, numFeatures]. */
  forwardFeatures(input: Tensor): Tensor {
    return new Tensor(this.native.forwardFeatures(requireTensor(input, 'input').native));
  }

  /** Each block's attention probabilities for `input` (as forward takes it), in block order: [N, numHeads, T, T]
   *  float32 tensors (whatever the model's dtype), T = 1 + the patches; token 0 is the class token, the patches
   *  follow row by row, and row i is token i's softmax over the tokens. Evaluation mode only (a RangeError in
   *  training mode: call eval() first). Runs on the calling thread, as forward does. */
  attentionMaps(input: Tensor): Tensor[] {
    return this.native.attentionMaps(requireTensor(input, 'input').native).map((map) => new Tensor(map));
  }

  /** attentionMaps on the compute thread, in turn with the other async calls (see forwardAsync). */
  attentionMapsAsync(input: Tensor): Promise<Tensor[]> {
    const callerStack = new Error().stack;
    const running = this.native.attentionMapsAsync(requireTensor(input, 'input').native);
    return withCallerStack(
      running.then((maps) => maps.map((map) => new Tensor(map))),
      callerStack,
    );
  }

  /** Attention rollout (Abnar and Zuidema, 2020) of attentionMaps(input), discarding per row (issue 20's rule, not
   *  jacobgil/vit-explain's whole-matrix one): for each image the class token's row over the patches, [N, gridH, gridW] float32 (gridH = inputShape[0] / patchSize,
   *  rounded down, likewise gridW), divided by its maximum. See attentionRolloutFromMaps and README.md for the
   *  steps. Evaluation mode only. */
  attentionRollout(input: Tensor, options: AttentionRolloutOptions = {}): Tensor {
    const { headFusion, discardRatio } = validateRolloutOptions(options);
    return new Tensor(this.native.attentionRollout(requireTensor(input, 'input').native, headFusion, discardRatio));
  }

  /** attentionRollout on the compute thread, in turn with the other async calls. */
  attentionRolloutAsync(input: Tensor, options: AttentionRolloutOptions = {}): Promise<Tensor> {
    const callerStack = new Error().stack;
    const { headFusion, discardRatio } = validateRolloutOptions(options);
    const running = this.native.attentionRolloutAsync(requireTensor(input, 'input').native, headFusion, discardRatio);
    return withCallerStack(
      running.then((rollout) => new Tensor(rollout)),
      callerStack,
    );
  }

  eval(): this {
    this.native.train(false);
    return this;
  }
  train(mode = true): this {
    this.native.train(requireBoolean(mode, 'train(mode)'));
    return this;
  }
  get training(): boolean {
    return this.native.training;
  }

  /** Parameters by state_dict key, in the article's order. The tensors share memory with the model. */
  namedParameters(): [string, Tensor][] {
    return toEntries(this.native.namedParameters());
  }

  get parameterCount(): number {
    return this.native.parameterCount;
  }

  /** Parameters and buffers by key, sharing memory with the model, detached from autograd. */
  stateDict(): Map<string, Tensor> {
    return new Map(toEntries(this.native.stateDict()));
  }

  /** Loads a torch.save'd state_dict file, or a Map of name -> Tensor, into the model (on the calling thread). */
  loadStateDict(source: string | Map<string, Tensor>, options: LoadStateDictOptions = {}): LoadReport {
    const loadOptions = validateLoadOptions(options);
    if (typeof source === 'string') return this.native.loadStateDict(source, loadOptions);
    if (!(source instanceof Map))
      throw new TypeError(expected('a checkpoint path or a Map of name -> Tensor', 'source', source));
    const entries: NativeEntries = [...source].map(([name, value]) => {
      if (typeof name !== 'string') throw new TypeError(expected('string keys', 'source', name));
      return [name, requireTensor(value, `source.get('${name}')`).native];
    });
    return this.native.loadStateDict(entries, loadOptions);
  }

  /** loadStateDict for a file, reading and copying on the compute thread, in turn with the other async calls. */
  loadStateDictAsync(path: string, options: LoadStateDictOptions = {}): Promise<LoadReport> {
    const callerStack = new Error().stack;
    const loadOptions = validateLoadOptions(options);
    return withCallerStack(this.native.loadStateDictAsync(requireString(path, 'path'), loadOptions), callerStack);
  }

  /** Writes stateDict() to a .pth file (PyTorch's torch.load and the article model's load_state_dict(strict=True)
   *  accept it) or a .safetensors file, atomically. */
  saveStateDict(path: string, options: SaveCheckpointOptions = {}): void {
    saveCheckpoint(path, this.stateDict(), options);
  }

  /** saveStateDict, writing on the compute thread. */
  saveStateDictAsync(path: string, options: SaveCheckpointOptions = {}): Promise<void> {
    return saveCheckpointAsync(path, this.stateDict(), options);
  }

  /** The article's freeze_backbone: patch_embed, cls_token, pos_embed and blocks 0-7 stop requiring gradients. */
  freezeBackbone(): this {
    this.native.freezeBackbone();
    return this;
  }
  /** The article's Unfreeze_backbone: the same parameters require gradients again. */
  unfreezeBackbone(): this {
    this.native.unfreezeBackbone();
    return this;
  }

  /** Resets every parameter's gradient to null (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): this {
    this.native.zeroGrad();
    return this;
  }

  /** Moves the model's weights to a device and/or converts them to a floating-point dtype: the precision is the
   *  caller's choice, and inputs must then have the same dtype. bfloat16 and float16 pay off where the hardware
   *  computes in them (GPUs, CPUs with AVX-512 BF16 / AMX); a CPU without them computes far slower than in float32,
   *  and libtorch computes float16 slowly on every CPU: a model left on the CPU in such a precision warns once
   *  (VITORCH_SLOW_BFLOAT16, VITORCH_SLOW_FLOAT16; lib/precision-advice.ts). Asking for CUDA without a GPU throws
   *  an Error saying so. */
  to(target: Device | ModelDType | { device?: Device; dtype?: ModelDType }): this {
    let device: string | null = null;
    let dtype: string | null = null;
    if (typeof target === 'string' && (MODEL_DTYPES as readonly string[]).includes(target)) {
      dtype = target;
    } else if (typeof target === 'string') {
      if (!isDevice(target)) {
        throw new RangeError(
          expected(
            `a device ('cpu', 'cuda' or 'cuda:N') or a dtype (${MODEL_DTYPES.join(', ')})`,
            'to(target)',
            target,
          ),
        );
      }
      device = requireDevice(target, 'to(target)');
    } else {
      const options = requireObject(target, 'to(target)');
      rejectUnknownKeys(options, ['device', 'dtype'], 'to(target)');
      if (options.device !== undefined) device = requireDevice(options.device, 'to({ device })');
      if (options.dtype !== undefined) dtype = requireModelDType(options.dtype, 'to({ dtype })');
      if (device === null && dtype === null)
        throw new TypeError(expected('a device and/or a dtype', 'to(target)', target));
    }
    this.native.to(device, dtype);
    warnIfSlowPrecision(this.native.dtype, this.native.device, describeMove(device, dtype));
    return this;
  }
  /** Dynamic int8 quantization for CPU inference: from the next forward in evaluation mode, the Linear layers of
   *  every block (qkv, proj, fc1, fc2: 97% of ViT-B/16's arithmetic) multiply in int8, with int8 weights (one scale
   *  per output channel) and inputs quantized per batch at run time, as PyTorch's quantize_dynamic does; attention,
   *  LayerNorm, the patch embedding and the head stay float32. The model keeps its float32 weights: stateDict(),
   *  save(), training and dequantize() see them unchanged, and the int8 copy is remade after they change. Inputs and
   *  outputs stay float32. On a CPU without VNNI (AVX-512 VNNI, AVX-VNNI or AMX) inputs use 7 bits, as PyTorch's
   *  x86 backend does there, and it warns once that int8 gains little (VITORCH_SLOW_INT8; `vitorch doctor`).
   *  Each layer's input gets one scale per batch, so a result depends a little on the images batched with it (as in
   *  PyTorch); a batch with a NaN or an infinity is computed in float32. Throws a RangeError in training mode, or
   *  unless the model is float32 on the CPU. Returns the model. */
  quantize(): this {
    this.native.quantize(int8NeedsReducedRange());
    warnIfSlowPrecision('int8', this.native.device, 'model.quantize()');
    return this;
  }
  /** Back to float32 arithmetic after quantize(). */
  dequantize(): this {
    this.native.dequantize();
    return this;
  }
  /** Whether quantize() is in effect. */
  get quantized(): boolean {
    return this.native.quantized;
  }
  get device(): string {
    return this.native.device;
  }
  get dtype(): string {
    return this.native.dtype;
  }

  /** Frees the weights now (in-flight async calls keep them until they settle). Further use throws DisposedError. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
}

/** The article's vit(): ViT-B/16 for inputShape, the checkpoint loaded strictly, a fresh head unless numClasses is
 *  1000. Reads the checkpoint on the calling thread; vitAsync does it off the event loop. */
export function vit(options: VitOptions = {}): VisionTransformer {
  return VisionTransformer.adopt(binding.vit(validateVitOptions(options)));
}

export function vitAsync(options: VitOptions = {}): Promise<VisionTransformer> {
  const callerStack = new Error().stack;
  const building = binding.vitAsync(validateVitOptions(options));
  return withCallerStack(
    building.then((native) => VisionTransformer.adopt(native)),
    callerStack,
  );
}
