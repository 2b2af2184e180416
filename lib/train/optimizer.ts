// Optimizers over a VisionTransformer's parameters: libtorch's own torch::optim SGD, Adam and AdamW (vitorch writes
// no update rule of its own), with parameter groups named by state_dict key, a learning rate the schedules set, and
// gradient clipping. Defaults: OPTIMIZER_DEFAULTS (./optimizer-defaults, the one table the CLI's config reads too).
import { NativeOptimizerSpec } from '../binding';
import { VisionTransformer } from '../model';
import { OPTIMIZER_DEFAULTS, OptimizerKind } from './optimizer-defaults';
import { expected, rejectUnknownKeys, requireBoolean, requireNumber, requireObject, requireString } from '../validate';

export { OPTIMIZER_DEFAULTS };
export type { OptimizerKind };

export interface ParameterGroup {
  /** state_dict keys of the parameters in this group. A parameter in no group is not optimized. */
  params: string[];
  /** This group's weight decay; default the optimizer's. */
  weightDecay?: number;
  /** The group's learning rate is the scheduled one times this. Default 1. */
  lrScale?: number;
}

interface CommonOptions {
  lr?: number;
  weightDecay?: number;
  /** Default: one group of every parameter. See decayWeightsOnlyGroups() for decay on weights only. */
  groups?: ParameterGroup[];
}

export interface SGDOptions extends CommonOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
}

export interface AdamOptions extends CommonOptions {
  betas?: [number, number];
  eps?: number;
  amsgrad?: boolean;
  /** ATen's fused kernel (PyTorch's `fused=True`) for the update: same rule and state, one pass per parameter,
   *  about 3x faster on large models. Default true; false runs torch::optim's step. */
  fused?: boolean;
}

const nonNegative = (value: unknown, argument: string) =>
  requireNumber(value, argument, (n) => n >= 0, 'a non-negative number');

function validateGroups(value: unknown, model: VisionTransformer): NativeOptimizerSpec['groups'] {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new TypeError(expected('an array of parameter groups', 'groups', value));
  const known = new Set(
    model.namedParameters().map(([name, tensor]) => {
      tensor.dispose();
      return name;
    }),
  );
  const seen = new Set<string>();
  return value.map((group, g) => {
    const o = requireObject(group, `groups[${g}]`);
    rejectUnknownKeys(o, ['params', 'weightDecay', 'lrScale'], `groups[${g}]`);
    if (!Array.isArray(o.params))
      throw new TypeError(expected('an array of parameter names', `groups[${g}].params`, o.params));
    const names = o.params.map((name, i) => {
      requireString(name, `groups[${g}].params[${i}]`);
      if (!known.has(name))
        throw new RangeError(expected('a parameter name of the model', `groups[${g}].params[${i}]`, name));
      if (seen.has(name))
        throw new RangeError(`expected each parameter in one group only, received '${name}' again in groups[${g}]`);
      seen.add(name);
      return name;
    });
    return {
      names,
      weightDecay: o.weightDecay === undefined ? undefined : nonNegative(o.weightDecay, `groups[${g}].weightDecay`),
      lrScale: o.lrScale === undefined ? undefined : nonNegative(o.lrScale, `groups[${g}].lrScale`),
    };
  });
}

/** Two groups as timm (param_groups_weight_decay) and most ViT recipes make them: weight decay on the weight matrices
 *  and kernels, none on biases, LayerNorm parameters, cls_token and pos_embed. (The article decays every parameter.) */
export function decayWeightsOnlyGroups(model: VisionTransformer, weightDecay?: number): ParameterGroup[] {
  const decay: string[] = [];
  const noDecay: string[] = [];
  for (const [name, tensor] of model.namedParameters()) {
    const isMatrix = tensor.shape.length >= 2 && name !== 'cls_token' && name !== 'pos_embed';
    (isMatrix ? decay : noDecay).push(name);
    tensor.dispose();
  }
  return [
    { params: decay, ...(weightDecay === undefined ? {} : { weightDecay }) },
    { params: noDecay, weightDecay: 0 },
  ];
}

/** An optimizer as configuration: its kind (the update rule: libtorch's SGD, Adam or AdamW), its hyper-parameters and
 *  its parameter groups, checked against the model it was made for. A Trainer builds the optimizer itself, with its
 *  state (momentum buffers, moments), in its native training session; the learning rate, the update for loops
 *  written in JS and the saved state are the Trainer's. */
export class Optimizer {
  readonly kind: OptimizerKind;
  /** @internal */
  readonly model: VisionTransformer;
  /** @internal What the Trainer's session builds its optimizer from. */
  readonly spec: Readonly<NativeOptimizerSpec>;

  /** @internal Use sgd(), adam() or adamw(). */
  constructor(model: VisionTransformer, spec: NativeOptimizerSpec) {
    if (!(model instanceof VisionTransformer)) throw new TypeError(expected('a VisionTransformer', 'model', model));
    this.model = model;
    this.kind = spec.kind;
    this.spec = Object.freeze({
      ...spec,
      groups: spec.groups?.map((g) => Object.freeze({ ...g, names: [...g.names] })),
    });
  }
}

function commonSpec(
  kind: OptimizerKind,
  model: VisionTransformer,
  o: Record<string, unknown>,
  lr: number,
  weightDecay: number,
) {
  return {
    kind,
    lr: o.lr === undefined ? lr : nonNegative(o.lr, 'lr'),
    weightDecay: o.weightDecay === undefined ? weightDecay : nonNegative(o.weightDecay, 'weightDecay'),
    groups: validateGroups(o.groups, model),
  };
}

/** libtorch's SGD; defaults OPTIMIZER_DEFAULTS.sgd, the article's (momentum 0.9, Nesterov, no weight decay, lr 1e-2). */
export function sgd(model: VisionTransformer, options: SGDOptions = {}): Optimizer {
  const o = requireObject(options, 'sgd options');
  rejectUnknownKeys(o, ['lr', 'weightDecay', 'groups', 'momentum', 'dampening', 'nesterov'], 'sgd options');
  const d = OPTIMIZER_DEFAULTS.sgd;
  return new Optimizer(model, {
    ...commonSpec('sgd', model, o, d.lr, d.weightDecay),
    momentum: o.momentum === undefined ? d.momentum : nonNegative(o.momentum, 'momentum'),
    dampening: o.dampening === undefined ? d.dampening : nonNegative(o.dampening, 'dampening'),
    nesterov: o.nesterov === undefined ? d.nesterov : requireBoolean(o.nesterov, 'nesterov'),
  });
}

function adamFamily(kind: 'adam' | 'adamw', model: VisionTransformer, options: AdamOptions): Optimizer {
  const o = requireObject(options, `${kind} options`);
  rejectUnknownKeys(o, ['lr', 'weightDecay', 'groups', 'betas', 'eps', 'amsgrad', 'fused'], `${kind} options`);
  const d = OPTIMIZER_DEFAULTS[kind];
  let betas: [number, number] = [...d.betas];
  if (o.betas !== undefined) {
    const b = o.betas;
    if (!Array.isArray(b) || b.length !== 2) throw new TypeError(expected('[beta1, beta2]', 'betas', b));
    betas = [0, 1].map((i) => requireNumber(b[i], `betas[${i}]`, (n) => n >= 0 && n < 1, 'a number in [0, 1)')) as [
      number,
      number,
    ];
  }
  return new Optimizer(model, {
    ...commonSpec(kind, model, o, d.lr, d.weightDecay),
    betas,
    eps: o.eps === undefined ? d.eps : nonNegative(o.eps, 'eps'),
    amsgrad: o.amsgrad === undefined ? d.amsgrad : requireBoolean(o.amsgrad, 'amsgrad'),
    fused: o.fused === undefined ? d.fused : requireBoolean(o.fused, 'fused'),
  });
}

/** libtorch's Adam (L2 weight decay added to the gradient); defaults OPTIMIZER_DEFAULTS.adam, the article's (lr 1e-3,
 *  betas (0.9, 0.999), weight decay 5e-4). */
export function adam(model: VisionTransformer, options: AdamOptions = {}): Optimizer {
  return adamFamily('adam', model, options);
}

/** libtorch's AdamW (decoupled weight decay); defaults OPTIMIZER_DEFAULTS.adamw: lr 1e-3, betas (0.9, 0.999),
 *  weight decay 0.05. */
export function adamw(model: VisionTransformer, options: AdamOptions = {}): Optimizer {
  return adamFamily('adamw', model, options);
}
