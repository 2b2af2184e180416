// The model options an article-named state dict describes (the article's own, timm's plain vit_* models, or
// transformers' after mapTransformersViT): everything its shapes say, and the refusal, by name, of the ViT variants
// the article's model cannot represent. A shape says the width, depth, patch, channels, classes, MLP width and qkv
// bias; it cannot say the number of heads, the GELU form or the LayerNorm eps, which come from the caller.
import { PretrainedError } from '../errors';
import type { Tensor } from '../tensor';
import type { VisionTransformerOptions } from '../model';

/** The side of the image the article's model lays its position table out for, whatever the input size. */
export const POSITION_GRID_IMAGE = 224;

/** timm's heads for each standard width (ViT-Ti, S, B, L, H), used when neither the file nor the caller says. */
export const STANDARD_HEADS: ReadonlyMap<number, number> = new Map([
  [192, 3],
  [384, 6],
  [768, 12],
  [1024, 16],
  [1280, 16],
]);

// Tensors that mark a variant the article's ViT does not have: the first whose key matches names the refusal.
const VARIANTS: [RegExp, string][] = [
  [
    /^(dist_token|head_dist\.)/,
    'a DeiT distilled model (dist_token, head_dist): a distillation token beside the class token',
  ],
  [/^reg_token$/, 'register tokens (reg_token)'],
  [/^fc_norm\./, "global average pooling with fc_norm (timm's global_pool='avg')"],
  [/^attn_pool\./, 'attention pooling (attn_pool)'],
  [/^norm_pre\./, 'a LayerNorm before the blocks (norm_pre, as in CLIP)'],
  [/^blocks\.\d+\.ls\d\./, 'LayerScale in the blocks (ls1, ls2)'],
  [/^blocks\.\d+\.attn\.(q_norm|k_norm)\./, 'normalised queries and keys (q_norm, k_norm)'],
  [/^patch_embed\.(backbone|norm)\./, 'another patch embedding (a hybrid CNN backbone or a normalised one)'],
];

export interface InferredOptions {
  options: VisionTransformerOptions;
  notes: string[];
}

/** What the caller may tell a state dict that it cannot say itself. */
export interface GivenOptions {
  numHeads?: number;
  activation?: VisionTransformerOptions['activation'];
  layerNormEps?: number;
}

function shapeOf(stateDict: Map<string, Tensor>, key: string, rank: number, where: string): number[] {
  const value = stateDict.get(key);
  if (value === undefined) throw new PretrainedError(`${where}: no ${key}; not a ViT of the article's layout`);
  if (value.shape.length !== rank) {
    throw new PretrainedError(`${where}: expected ${key} of rank ${rank}, received shape [${value.shape.join(', ')}]`);
  }
  return value.shape;
}

/**
 * The options of the ViT whose state dict this is (the article's key names), or a PretrainedError naming the
 * variant it is when the article's model cannot represent it. `where` names the file in messages.
 */
export function optionsFromStateDict(
  stateDict: Map<string, Tensor>,
  given: GivenOptions,
  where: string,
): InferredOptions {
  const notes: string[] = [];
  for (const key of stateDict.keys()) {
    const variant = VARIANTS.find(([pattern]) => pattern.test(key));
    if (variant) throw new PretrainedError(`${where}: ${variant[1]} cannot be represented by the article's ViT`);
  }
  if (!stateDict.has('cls_token')) {
    throw new PretrainedError(
      `${where}: no cls_token: a ViT without a class token (pooling its patches instead) cannot be represented by ` +
        "the article's ViT",
    );
  }
  const [dim, inChans, patchHeight, patchWidth] = shapeOf(stateDict, 'patch_embed.proj.weight', 4, where);
  if (patchHeight !== patchWidth) {
    throw new PretrainedError(
      `${where}: another patch embedding: ${patchHeight}x${patchWidth} patches (square ones only)`,
    );
  }
  if (!stateDict.has('patch_embed.proj.bias')) {
    throw new PretrainedError(`${where}: another patch embedding: a patch projection without bias`);
  }
  const patchSize = patchHeight;
  const [, positions, positionWidth] = shapeOf(stateDict, 'pos_embed', 3, where);
  const grid = Math.round(Math.sqrt(positions - 1));
  if (grid * grid !== positions - 1 || positionWidth !== dim) {
    throw new PretrainedError(
      `${where}: expected pos_embed of [1, grid^2 + 1, ${dim}] (the class token's row and a square grid's), received ` +
        `[1, ${positions}, ${positionWidth}]: position embeddings without the class token's row cannot be represented`,
    );
  }
  const articleGrid = Math.floor(POSITION_GRID_IMAGE / patchSize);
  const inputSide = grid * patchSize;
  if (grid !== articleGrid) {
    throw new PretrainedError(
      `${where}: a position grid of ${grid}x${grid} (${inputSide}-pixel images in ${patchSize}-pixel patches); the ` +
        `article's ViT keeps its table for ${POSITION_GRID_IMAGE}-pixel images (${articleGrid}x${articleGrid}) and ` +
        'resamples it to other sizes, so another grid cannot be loaded without changing its numbers',
    );
  }

  let depth = 0;
  while (stateDict.has(`blocks.${depth}.attn.qkv.weight`)) depth++;
  const extraBlock = [...stateDict.keys()].find((key) => {
    const match = /^blocks\.(\d+)\./.exec(key);
    return match !== null && Number(match[1]) >= depth;
  });
  if (extraBlock) throw new PretrainedError(`${where}: ${extraBlock} without blocks.${depth}.attn.qkv.weight`);
  let mlpRatio = 4;
  if (depth > 0) {
    const [hidden] = shapeOf(stateDict, 'blocks.0.mlp.fc1.weight', 2, where);
    mlpRatio = hidden / dim;
    // The block's hidden width is int(dim * mlpRatio), as in Python.
    if (Math.trunc(dim * mlpRatio) !== hidden) {
      throw new PretrainedError(
        `${where}: an MLP of ${hidden} hidden features on ${dim} cannot be represented (mlpRatio ${mlpRatio} gives ` +
          `${Math.trunc(dim * mlpRatio)})`,
      );
    }
  }
  const qkvBias = depth === 0 || stateDict.has('blocks.0.attn.qkv.bias');
  const head = stateDict.get('head.weight');
  const numClasses = head === undefined ? 0 : head.shape[0];
  if (head === undefined) notes.push('no head (head.weight): a model of numClasses 0, giving the class token features');

  let numHeads = given.numHeads;
  if (numHeads === undefined) {
    numHeads = STANDARD_HEADS.get(dim);
    if (numHeads === undefined) {
      throw new PretrainedError(
        `${where}: the number of attention heads cannot be read from a state dict, and ${dim} features is no ` +
          `standard width (${[...STANDARD_HEADS].map(([w, h]) => `${w}: ${h}`).join(', ')}): pass { numHeads }`,
      );
    }
    notes.push(
      `numHeads ${numHeads}: not recorded in a state dict; the standard count for ${dim} features ` +
        '(pass { numHeads } if the model had another)',
    );
  }
  const activation = given.activation ?? 'gelu-tanh';
  if (given.activation === undefined) {
    notes.push(
      "activation 'gelu-tanh' (the article's): a state dict does not record its GELU; timm's models use the exact " +
        "form: pass { activation: 'gelu' } for them",
    );
  }
  const layerNormEps = given.layerNormEps ?? 1e-6;
  const options: VisionTransformerOptions = {
    inputShape: [inputSide, inputSide],
    patchSize,
    inChans,
    numClasses,
    numFeatures: dim,
    depth,
    numHeads,
    mlpRatio,
    qkvBias,
    activation,
    layerNormEps,
  };
  return { options, notes };
}
