// The options of createServer (and of `vitorch serve`, whose flags map one to one), validated once with the
// project's wording ("expected X for Y, received Z"), defaults filled in.
import type { Classifier } from '../classifier';
import { requireInferencePrecision, requirePrecisionOnDevice } from '../inference-precision';
import type { InferencePrecision } from '../inference-precision';
import { validatePretrainedOptions } from '../pretrained/load-pretrained';
import type { LoadPretrainedOptions } from '../pretrained/load-pretrained';
import type { Device } from '../tensor';
import { MODEL_NAME_PATTERN } from './model-repository';
import {
  expected,
  rejectUnknownKeys,
  requireBoolean,
  requireDevice,
  requireInteger,
  requireObject,
  requireString,
} from '../validate';

export interface ServerOptions {
  /** A checkpoint of the model to serve. With `config`: the model `vitorch train` wrote; alone: whatever
   *  loadPretrained reads (the article's or timm's state dict, such as the article's ViT-B/16 with 1000 numbered
   *  classes and ImageNet preprocessing; a transformers or vitorch model folder, with the classes and preprocessing
   *  it states). Neither: the embedded Fashion-MNIST model. */
  weights?: string;
  /** What `weights` read without `config` cannot say (loadPretrained's options: numHeads, activation, layerNormEps,
   *  skipUnknownGlobals). */
  pretrained?: LoadPretrainedOptions;
  /** The config.json `vitorch train` writes (`model` and `classes` are enough; preprocessing defaults to the article's). */
  config?: string;
  /** A classifier already loaded (loadClassifier, defaultClassifier) instead of weights and config; the caller
   *  keeps ownership (closing the server does not dispose it). */
  classifier?: Classifier;
  /** The name the model is served under (/v2/models/{name}). Default 'vit'. */
  modelName?: string;
  /** Several models, by name: each a model folder (its config.json and one .pth or .safetensors weights file; a
   *  `vitorch train` save folder serves its best_epoch_weights.pth). Instead of weights, config and classifier. */
  models?: Record<string, string>;
  /** A model repository: a folder with one model folder per model, named by the folder (as `models`); models
   *  added to it later load with POST /v2/repository/models/{name}/load. Combines with `models`. */
  modelRepository?: string;
  device?: Device;
  /** The precision the model runs in: a dtype of the weights (model.to), or 'int8' (model.quantize(): dynamic int8
   *  quantization, CPU only). Requests and responses stay FP32 on the wire. Default: the checkpoint's (float32). */
  dtype?: InferencePrecision;
  /** Offer the `attention_rollout` output (model metadata, config and inference) besides `logits`. Default false:
   *  perf_analyzer and other clients that ask for every output a model lists would otherwise pay a rollout (about
   *  1.5x a forward pass) with each request. /v1/classify?explain=1 and the page work either way. */
  attentionOutput?: boolean;
  /** Most samples in one forward pass; also the largest batch one request may send. Default 8. */
  maxBatch?: number;
  /** How long the first request of an idle model waits for others to join its batch. Default 0, as Triton's:
   *  batches still form under load, from the requests that queue while the model is busy, and an idle model
   *  answers at once (measured in bench/README.md, `serve-max-delay.js`). */
  maxDelayMs?: number;
  /** Most requests waiting; one more gets 503 with Retry-After at once. Default 64. */
  maxQueue?: number;
  /** Deadline of a queued request unless it sets its own (the `timeout` parameter, microseconds). Default 30 000 ms. */
  timeoutMs?: number;
  /** Largest request body in bytes (413 beyond). Default 64 MiB. */
  bodyLimit?: number;
  /** fastify's logger option: true (pino, info level), false, or pino options. Default true. */
  logger?: boolean | Record<string, unknown>;
}

export interface ResolvedServerOptions {
  weights?: string;
  pretrained?: LoadPretrainedOptions;
  config?: string;
  classifier?: Classifier;
  modelName: string;
  models?: Record<string, string>;
  modelRepository?: string;
  device?: Device;
  dtype?: InferencePrecision;
  attentionOutput: boolean;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
  bodyLimit: number;
  logger: boolean | Record<string, unknown>;
}

export const SERVER_DEFAULTS = {
  modelName: 'vit',
  maxBatch: 8,
  maxDelayMs: 0,
  maxQueue: 64,
  timeoutMs: 30_000,
  bodyLimit: 64 * 1024 * 1024,
} as const;

const KEYS = [
  'weights',
  'pretrained',
  'config',
  'classifier',
  'modelName',
  'models',
  'modelRepository',
  'device',
  'dtype',
  'attentionOutput',
  'maxBatch',
  'maxDelayMs',
  'maxQueue',
  'timeoutMs',
  'bodyLimit',
  'logger',
] as const;

export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  const o = requireObject(options, 'createServer options');
  rejectUnknownKeys(o, KEYS, 'createServer options');
  const weights = o.weights === undefined ? undefined : requireString(o.weights, 'weights');
  const config = o.config === undefined ? undefined : requireString(o.config, 'config');
  if (config !== undefined && weights === undefined) {
    throw new TypeError('config needs weights: the config describes the model, the weights are its parameters');
  }
  const pretrained = o.pretrained === undefined ? undefined : validatePretrainedOptions(o.pretrained);
  if (pretrained !== undefined && (weights === undefined || config !== undefined)) {
    throw new TypeError('pretrained options go with weights read without config: a config states the model');
  }
  if (o.classifier !== undefined && (weights !== undefined || config !== undefined)) {
    throw new TypeError('give either a classifier or weights (and config), not both');
  }
  const modelName = o.modelName === undefined ? SERVER_DEFAULTS.modelName : requireString(o.modelName, 'modelName');
  if (!MODEL_NAME_PATTERN.test(modelName)) {
    throw new RangeError(expected('1 to 64 letters, digits, _ . or -', 'modelName', modelName));
  }
  const models = o.models === undefined ? undefined : resolveModels(o.models);
  const modelRepository =
    o.modelRepository === undefined ? undefined : requireString(o.modelRepository, 'modelRepository');
  if (
    (models !== undefined || modelRepository !== undefined) &&
    (weights !== undefined || o.classifier !== undefined)
  ) {
    throw new TypeError('give either models or a modelRepository, or one model (weights or a classifier), not both');
  }
  if (models !== undefined && Object.keys(models).length === 0 && modelRepository === undefined) {
    throw new RangeError(expected('at least one model', 'models', models));
  }
  const device = o.device === undefined ? undefined : (requireDevice(o.device, 'device') as Device);
  const dtype = o.dtype === undefined ? undefined : requireInferencePrecision(o.dtype, 'dtype');
  // Checked here, so that createServer throws at once instead of the model failing to load in the background.
  if (dtype !== undefined && device !== undefined) requirePrecisionOnDevice(dtype, device);
  const logger = o.logger === undefined ? true : o.logger;
  if (typeof logger !== 'boolean' && (typeof logger !== 'object' || logger === null)) {
    throw new TypeError(expected('a boolean or pino options', 'logger', logger));
  }
  return {
    weights,
    pretrained,
    config,
    classifier: o.classifier as Classifier | undefined,
    modelName,
    models,
    modelRepository,
    device,
    dtype,
    attentionOutput: o.attentionOutput === undefined ? false : requireBoolean(o.attentionOutput, 'attentionOutput'),
    maxBatch: o.maxBatch === undefined ? SERVER_DEFAULTS.maxBatch : requireInteger(o.maxBatch, 'maxBatch', 1, 4096),
    maxDelayMs:
      o.maxDelayMs === undefined ? SERVER_DEFAULTS.maxDelayMs : requireInteger(o.maxDelayMs, 'maxDelayMs', 0, 60_000),
    maxQueue:
      o.maxQueue === undefined ? SERVER_DEFAULTS.maxQueue : requireInteger(o.maxQueue, 'maxQueue', 1, 1_000_000),
    timeoutMs:
      o.timeoutMs === undefined ? SERVER_DEFAULTS.timeoutMs : requireInteger(o.timeoutMs, 'timeoutMs', 1, 86_400_000),
    bodyLimit:
      o.bodyLimit === undefined
        ? SERVER_DEFAULTS.bodyLimit
        : requireInteger(o.bodyLimit, 'bodyLimit', 1024, 2 ** 31 - 1),
    logger: logger as boolean | Record<string, unknown>,
  };
}

/** `models` checked: names a URL and a metric label can carry, each a folder path. */
function resolveModels(value: unknown): Record<string, string> {
  const models = requireObject(value, 'models');
  const resolved: Record<string, string> = {};
  for (const [name, dir] of Object.entries(models)) {
    if (!MODEL_NAME_PATTERN.test(name)) {
      throw new RangeError(expected('model names of 1 to 64 letters, digits, _ . or -', 'models', name));
    }
    resolved[name] = requireString(dir, `models.${name}`);
  }
  return resolved;
}
