// loadPretrained: any ViT checkpoint people have, as the article's model. It detects the family of what it is given
// (a transformers folder, a vitorch model folder, or an article-named state dict from the article or timm), reads
// the model's options from the family's own record (config.json) or from the tensors' shapes, maps the names, and
// says in `notes` what it assumed and what it left out. `vitorch inspect` and `vitorch convert` use the same
// reading (readPretrained); `--weights` without `--config` in predict, eval and serve, and `train --weights`, too
// (./pretrained-classifier.ts, ./fine-tune-weights.ts).
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointTensors, loadCheckpointAsync } from '../checkpoint';
import { defaultPreprocess, readConfigJson, resolveClassifierConfig } from '../classifier';
import type { PreprocessConfig } from '../classifier';
import { PretrainedError } from '../errors';
import { ACTIVATIONS, VisionTransformer } from '../model';
import type { Activation, VisionTransformerOptions } from '../model';
import { isVitorchConfig, readModelFolder } from '../server/model-folder';
import type { Tensor } from '../tensor';
import { expected, rejectUnknownKeys, requireBoolean, requireInteger, requireNumber, requireObject } from '../validate';
import { GivenOptions, optionsFromStateDict } from './state-dict-options';
import { mapTransformersViT } from './transformers-names';
import { transformersPreprocess } from './transformers-preprocess';

export interface LoadPretrainedOptions {
  /** Attention heads, which a bare state dict does not record. Default: the standard count for the width
   *  (192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16), said in `notes`; a config.json's own count otherwise. */
  numHeads?: number;
  /** The GELU form of a bare state dict. Default 'gelu-tanh' (the article's), said in `notes`; timm's weights need
   *  'gelu'. A transformers config's hidden_act decides for its folder. */
  activation?: Activation;
  /** LayerNorm eps of a bare state dict. Default 1e-6 (the article's and timm's); transformers' config decides for
   *  its folder. */
  layerNormEps?: number;
  /** Read training checkpoints that pickle other objects too (timm's model_best.pth.tar). Default false. */
  skipUnknownGlobals?: boolean;
}

export type PretrainedFamily = 'article' | 'transformers' | 'vitorch';

/** A checkpoint read as the article's ViT, before a model is built: what `vitorch inspect` and `convert` need. */
export interface PretrainedCheckpoint {
  family: PretrainedFamily;
  /** The weights file read. */
  weights: string;
  options: VisionTransformerOptions;
  classes: string[];
  /** The article's state dict. */
  stateDict: Map<string, Tensor>;
  /** The evaluation preprocessing the checkpoint states (a vitorch config's, a transformers folder's
   *  preprocessor_config.json's); what it leaves out is the article's. */
  preprocess: Partial<PreprocessConfig>;
  notes: string[];
  /** Frees the tensors read. */
  dispose(): void;
}

export interface Pretrained {
  /** In evaluation mode, float32 (or the checkpoint's floating dtype converted to float32 by the strict load). */
  model: VisionTransformer;
  /** The class names: id2label's, a vitorch config's, or numbers for a bare state dict; [] without a head. */
  classes: string[];
  family: PretrainedFamily;
  /** The evaluation preprocessing: what the checkpoint states, the article's for the rest (ImageNet mean and std,
   *  shorter side to the model's size, centre crop). */
  preprocess: PreprocessConfig;
  notes: string[];
}

const OPTION_KEYS = ['numHeads', 'activation', 'layerNormEps', 'skipUnknownGlobals'];

/** loadPretrained's options checked (a TypeError or RangeError naming the option), for callers that take them
 *  before anything is read (createServer). */
export function validatePretrainedOptions(options: unknown): LoadPretrainedOptions {
  const o = requireObject(options, 'loadPretrained options');
  rejectUnknownKeys(o, OPTION_KEYS, 'loadPretrained options');
  if (o.activation !== undefined && !(ACTIVATIONS as readonly unknown[]).includes(o.activation)) {
    throw new RangeError(expected(`one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}`, 'activation', o.activation));
  }
  return {
    numHeads: o.numHeads === undefined ? undefined : requireInteger(o.numHeads, 'numHeads', 1),
    activation: o.activation as Activation | undefined,
    layerNormEps:
      o.layerNormEps === undefined
        ? undefined
        : requireNumber(o.layerNormEps, 'layerNormEps', (n) => n > 0 && n < 1, 'a number in (0, 1)'),
    skipUnknownGlobals:
      o.skipUnknownGlobals === undefined ? undefined : requireBoolean(o.skipUnknownGlobals, 'skipUnknownGlobals'),
  };
}

function isTransformersLayout(keys: Iterable<string>): boolean {
  for (const key of keys) if (/^(vit\.)?embeddings\.patch_embeddings\./.test(key)) return true;
  return false;
}

function numbered(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i));
}

function checkpoint(
  family: PretrainedFamily,
  weights: string,
  options: VisionTransformerOptions,
  classes: string[],
  stateDict: Map<string, Tensor>,
  preprocess: Partial<PreprocessConfig>,
  notes: string[],
  read: CheckpointTensors[],
): PretrainedCheckpoint {
  return {
    family,
    weights,
    options,
    classes,
    stateDict,
    preprocess,
    notes,
    dispose() {
      const owned = new Set<Tensor>([...stateDict.values(), ...read.flatMap((r) => [...r.values()])]);
      for (const value of owned) if (!value.disposed) value.dispose();
    },
  };
}

/** Each file of a (possibly sharded) transformers checkpoint: model.safetensors, its index's shards, or
 *  pytorch_model.bin. */
function transformersWeightFiles(dir: string): string[] {
  for (const [single, index] of [
    ['model.safetensors', 'model.safetensors.index.json'],
    ['pytorch_model.bin', 'pytorch_model.bin.index.json'],
  ]) {
    if (fs.existsSync(path.join(dir, single))) return [path.join(dir, single)];
    if (fs.existsSync(path.join(dir, index))) {
      const map = (readConfigJson(path.join(dir, index)).weight_map ?? {}) as Record<string, string>;
      return [...new Set(Object.values(map))].map((file) => path.join(dir, file));
    }
  }
  throw new PretrainedError(
    `${dir}: a transformers folder without weights: expected model.safetensors or pytorch_model.bin beside config.json`,
  );
}

const TRANSFORMERS_ACTIVATIONS: Record<string, Activation> = {
  gelu: 'gelu',
  gelu_pytorch_tanh: 'gelu-tanh',
  gelu_new: 'gelu-tanh',
};

function square(value: unknown, name: string, file: string): number {
  const sides = Array.isArray(value) ? value : [value, value];
  if (sides.length !== 2 || sides[0] !== sides[1] || !Number.isInteger(sides[0])) {
    throw new PretrainedError(
      `${file}: expected ${name} to be one integer (square), received ${JSON.stringify(value)}`,
    );
  }
  return sides[0] as number;
}

async function readTransformers(
  dir: string,
  config: Record<string, unknown>,
  given: LoadPretrainedOptions,
): Promise<PretrainedCheckpoint> {
  const file = path.join(dir, 'config.json');
  const architectures = (config.architectures ?? []) as string[];
  const known = ['ViTForImageClassification', 'ViTModel'];
  const unknownArchitecture = architectures.find((a) => !known.includes(a));
  if (unknownArchitecture) {
    throw new PretrainedError(
      `${file}: ${unknownArchitecture} cannot be represented by the article's ViT (it reads ${known.join(' and ')})`,
    );
  }
  const act = String(config.hidden_act ?? 'gelu');
  const activation = TRANSFORMERS_ACTIVATIONS[act];
  if (activation === undefined) {
    throw new PretrainedError(
      `${file}: hidden_act '${act}' cannot be represented (the article's ViT has ${Object.keys(TRANSFORMERS_ACTIVATIONS).join(', ')})`,
    );
  }
  const numHeads = Number(config.num_attention_heads ?? 12);
  const layerNormEps = Number(config.layer_norm_eps ?? 1e-12);
  for (const [key, stated, asked] of [
    ['numHeads', numHeads, given.numHeads],
    ['activation', activation, given.activation],
    ['layerNormEps', layerNormEps, given.layerNormEps],
  ] as const) {
    if (asked !== undefined && asked !== stated) {
      throw new PretrainedError(`${file} says ${key} ${stated}; the options say ${asked}`);
    }
  }
  const read: CheckpointTensors[] = [];
  try {
    const files = transformersWeightFiles(dir);
    for (const weights of files) {
      read.push(await loadCheckpointAsync(weights, { skipUnknownGlobals: given.skipUnknownGlobals ?? false }));
    }
    const all = new Map<string, Tensor>(read.flatMap((r) => [...r]));
    const mapped = mapTransformersViT(all);
    const inferred = optionsFromStateDict(mapped.stateDict, { numHeads, activation, layerNormEps }, dir);
    const o = inferred.options;
    const declared: [string, unknown, unknown][] = [
      ['hidden_size', config.hidden_size ?? 768, o.numFeatures],
      ['num_hidden_layers', config.num_hidden_layers ?? 12, o.depth],
      ['intermediate_size', config.intermediate_size ?? 3072, Math.trunc(o.numFeatures! * o.mlpRatio!)],
      ['patch_size', square(config.patch_size ?? 16, 'patch_size', file), o.patchSize],
      ['image_size', square(config.image_size ?? 224, 'image_size', file), o.inputShape![0]],
      ['num_channels', config.num_channels ?? 3, o.inChans],
      ['qkv_bias', config.qkv_bias ?? true, o.qkvBias],
    ];
    for (const [key, value, found] of declared) {
      if (value !== found)
        throw new PretrainedError(`${file} says ${key} ${String(value)}; the weights have ${String(found)}`);
    }
    const id2label = config.id2label as Record<string, string> | undefined;
    let classes: string[] = [];
    const notes = [
      `a Hugging Face transformers ViT (${architectures.join(', ') || 'no architectures'})`,
      ...mapped.notes,
    ];
    if (o.numClasses! > 0) {
      classes = id2label ? numbered(o.numClasses!).map((i) => id2label[i]) : [];
      if (classes.length !== o.numClasses || classes.some((name) => typeof name !== 'string' || name === '')) {
        classes = numbered(o.numClasses!);
        notes.push(`class names: config.json's id2label does not name ${o.numClasses} classes; numbered instead`);
      } else {
        notes.push(`${classes.length} class names from id2label`);
      }
    } else {
      notes.push('no classifier: a model of numClasses 0, giving the class token features');
    }
    notes.push(`activation '${activation}' (hidden_act '${act}'), layerNormEps ${layerNormEps}, numHeads ${numHeads}`);
    const stated = transformersPreprocess(dir, o.inputShape!);
    notes.push(...stated.notes);
    return checkpoint('transformers', files.join(', '), o, classes, mapped.stateDict, stated.preprocess, notes, read);
  } catch (error) {
    for (const r of read) r.dispose();
    throw error;
  }
}

async function readStateDictFile(file: string, given: LoadPretrainedOptions): Promise<PretrainedCheckpoint> {
  const read = await loadCheckpointAsync(file, { skipUnknownGlobals: given.skipUnknownGlobals ?? false });
  try {
    if (isTransformersLayout(read.keys())) {
      throw new PretrainedError(
        `${file}: a Hugging Face transformers checkpoint: give its folder, with the config.json that says its heads, ` +
          'activation and eps',
      );
    }
    const { options, notes } = optionsFromStateDict(read, given as GivenOptions, file);
    const classes = numbered(options.numClasses!);
    if (classes.length > 0) notes.push(`class names: a state dict has none; numbered 0 to ${classes.length - 1}`);
    return checkpoint('article', file, options, classes, read, {}, [...read.notes, ...notes], [read]);
  } catch (error) {
    read.dispose();
    throw error;
  }
}

async function readVitorchFolder(dir: string, config: Record<string, unknown>, given: LoadPretrainedOptions) {
  const folder = readModelFolder(dir);
  const resolved = resolveClassifierConfig(config, folder.config);
  const read = await loadCheckpointAsync(folder.weights, { skipUnknownGlobals: given.skipUnknownGlobals ?? false });
  const notes = [`a vitorch model folder: ${path.basename(folder.weights)} with config.json's model and classes`];
  return checkpoint(
    'vitorch',
    folder.weights,
    resolved.model,
    resolved.classes,
    read,
    resolved.preprocess,
    [...read.notes, ...notes],
    [read],
  );
}

/** Reads a checkpoint of any family as the article's state dict and options, without building a model. */
export async function readPretrained(
  pathOrDir: string,
  options: LoadPretrainedOptions = {},
): Promise<PretrainedCheckpoint> {
  if (typeof pathOrDir !== 'string' || pathOrDir === '')
    throw new TypeError(expected('a checkpoint file or folder', 'pathOrDir', pathOrDir));
  const given = validatePretrainedOptions(options);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(pathOrDir);
  } catch {
    throw new PretrainedError(`${pathOrDir}: no such file or folder`);
  }
  if (!stat.isDirectory()) return readStateDictFile(pathOrDir, given);
  const configFile = path.join(pathOrDir, 'config.json');
  if (!fs.existsSync(configFile)) {
    throw new PretrainedError(
      `${pathOrDir}: a folder without config.json; expected a transformers folder or a vitorch model folder`,
    );
  }
  const config = readConfigJson(configFile);
  if (isVitorchConfig(config)) return readVitorchFolder(pathOrDir, config, given);
  if (config.model_type === 'vit') return readTransformers(pathOrDir, config, given);
  throw new PretrainedError(
    `${configFile}: model_type ${JSON.stringify(config.model_type)} cannot be represented by the article's ViT ` +
      "(it reads transformers' model_type 'vit'" +
      (config.model_type === 'deit' ? "; DeiT's distillation token is not part of it)" : ')'),
  );
}

/**
 * The article's VisionTransformer with the weights of any ViT checkpoint: the article's or timm's state dicts
 * (.pth, .safetensors), a Hugging Face transformers folder (config.json with model.safetensors or pytorch_model.bin:
 * ViTForImageClassification or ViTModel), or a vitorch model folder (`vitorch convert`, `vitorch train`). Files are
 * read off the event loop; the model is loaded strictly and left in evaluation mode. Variants the article's model
 * cannot represent are a PretrainedError naming them.
 */
export async function loadPretrained(pathOrDir: string, options: LoadPretrainedOptions = {}): Promise<Pretrained> {
  const read = await readPretrained(pathOrDir, options);
  try {
    const model = new VisionTransformer(read.options);
    try {
      // Built from the file's own shapes, so a strict load can only fail on a dtype or a tensor that is not one.
      const report = model.loadStateDict(read.stateDict, { strict: true });
      model.eval();
      return {
        model,
        classes: read.classes,
        family: read.family,
        preprocess: defaultPreprocess(read.options, read.preprocess),
        notes: [...read.notes, ...report.notes],
      };
    } catch (error) {
      model.dispose();
      throw error;
    }
  } finally {
    read.dispose();
  }
}
