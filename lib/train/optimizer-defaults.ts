// The one table of optimizer defaults. The library's sgd(), adam() and adamw() and `vitorch train`'s config both
// read it, so a plain `adam(model)` and a config's `"optimizer": { "kind": "adam" }` run with the same settings.
//
// The values are the article's training recipe (its repository's train.py, github.com/bubbliiiing/classification-
// pytorch; tools/article_recipe.py records each with its line, and test/optimizer-defaults.test.ts holds this table
// to it):
// - SGD: lr 1e-2 (the Init_lr train.py recommends for SGD), momentum 0.9, Nesterov, and no weight decay: train.py
//   builds optim.SGD without passing its weight_decay.
// - Adam: lr 1e-3 (its recommended Init_lr), betas (momentum, 0.999) = (0.9, 0.999) and weight decay 5e-4 (coupled
//   L2, torch.optim.Adam), although a comment in train.py advises 0 for Adam: 5e-4 is what its code runs with.
// - AdamW is not in the article. It takes Adam's lr, betas and lr limits, and the decoupled weight decay of the DeiT
//   and timm ViT recipes, 0.05 (5e-4 decoupled, multiplied by lr, would hardly decay at all).
// eps, amsgrad, dampening and fused are torch.optim's own defaults, except fused (ATen's fused Adam kernel, the same
// update rule), which vitorch turns on.
//
// BATCH_SCALING is the article's rule that adapts Init_lr and Min_lr to the batch size (batchScaledLearningRates in
// ./lr-scaling): both are meant for a batch of `nbs` images, scaled linearly to the real one and clamped to a range
// per optimizer; Min_lr defaults to minLrRatio times Init_lr.

export const OPTIMIZER_KINDS = Object.freeze(['sgd', 'adam', 'adamw'] as const);

export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

const betas = Object.freeze([0.9, 0.999] as [number, number]) as readonly [number, number];

export const OPTIMIZER_DEFAULTS = Object.freeze({
  sgd: Object.freeze({ lr: 1e-2, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 }),
  adam: Object.freeze({ lr: 1e-3, betas, eps: 1e-8, weightDecay: 5e-4, amsgrad: false, fused: true }),
  adamw: Object.freeze({ lr: 1e-3, betas, eps: 1e-8, weightDecay: 0.05, amsgrad: false, fused: true }),
});

export const BATCH_SCALING = Object.freeze({
  /** Min_lr = minLrRatio * Init_lr when a minimum is not given. */
  minLrRatio: 0.01,
  /** The batch size Init_lr and Min_lr are meant for: the article's nbs for its ViT and Swin backbones (64 for its
   *  CNNs). */
  nbs: 256,
  /** The range the scaled lr is clamped to, per optimizer, for the ViT backbone; the scaled Min_lr's is this one times
   *  1e-2. The article picks Adam's range for the exact name 'adam' only (SGD's otherwise); AdamW takes Adam's. */
  lrLimits: Object.freeze({
    sgd: Object.freeze([5e-4, 1e-1] as const),
    adam: Object.freeze([1e-5, 1e-3] as const),
    adamw: Object.freeze([1e-5, 1e-3] as const),
  }) as Readonly<Record<OptimizerKind, readonly [number, number]>>,
});
