// Hugging Face transformers' ViT state dict -> the article's state dict. transformers keeps query, key and value as
// three Linear layers and names every module after BERT; the article has one qkv Linear and timm's names. The map is
// total: every tensor of the file becomes one of the article's, or is named in a note (the pooler, a masked image
// modelling token), or is an error — never dropped without a word (a wrong map that loads 2 of 211 tensors quietly is
// how such loaders fail). Both of transformers' spellings are read: the one save_pretrained writes
// (encoder.layer.N.attention.attention.query, ...) and the one transformers 5 uses inside the model
// (layers.N.attention.q_proj, ...).
import { tensor, Tensor } from '../tensor';
import type { DType, TypedArrayOf } from '../dtype';
import { PretrainedError } from '../errors';

export interface MappedStateDict {
  /** The article's keys, in its order; tensors shared with the input except qkv, which is new. */
  stateDict: Map<string, Tensor>;
  /** What was renamed, joined or left out, one line each. */
  notes: string[];
}

// One block's parts: the article's name, and each transformers spelling (after encoder.layer.N. / layers.N.).
const BLOCK_PARTS: [string, string[]][] = [
  ['norm1', ['layernorm_before']],
  ['attn.proj', ['attention.output.dense', 'attention.o_proj']],
  ['norm2', ['layernorm_after']],
  ['mlp.fc1', ['intermediate.dense', 'mlp.fc1']],
  ['mlp.fc2', ['output.dense', 'mlp.fc2']],
];
const QKV_PARTS: [string, string[]][] = [
  ['query', ['attention.attention.query', 'attention.q_proj']],
  ['key', ['attention.attention.key', 'attention.k_proj']],
  ['value', ['attention.attention.value', 'attention.v_proj']],
];
const EMBEDDINGS: [string, string][] = [
  ['embeddings.cls_token', 'cls_token'],
  ['embeddings.position_embeddings', 'pos_embed'],
  ['embeddings.patch_embeddings.projection.weight', 'patch_embed.proj.weight'],
  ['embeddings.patch_embeddings.projection.bias', 'patch_embed.proj.bias'],
];
// Tensors the article's model has no use for, and why: reported, not loaded.
const IGNORED: [RegExp, string][] = [
  [
    /^pooler\.dense\.(weight|bias)$/,
    "ViTModel's pooler (dense + tanh on the class token): not part of the article's model",
  ],
  [/^embeddings\.mask_token$/, 'the mask token of masked image modelling: only used when patches are masked'],
];
const BLOCK_KEY = /^(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$/;

const ARRAY_OF: Record<DType, new (length: number) => TypedArrayOf[DType]> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** Rows of tensors of equal trailing shape and one dtype, joined along the first dimension (torch.cat(dim=0)). */
function catRows(parts: Tensor[], name: string): Tensor {
  const [first] = parts;
  const trailing = first.shape.slice(1).join(',');
  for (const part of parts) {
    if (part.dtype !== first.dtype || part.shape.slice(1).join(',') !== trailing) {
      throw new PretrainedError(
        `cannot join query, key and value into ${name}: expected one dtype and shape, received ` +
          parts.map((p) => `${p.dtype} [${p.shape.join(', ')}]`).join(', '),
      );
    }
  }
  const arrays = parts.map((part) => part.toTypedArray());
  // By dtype, not arrays[0].constructor: the native side makes its arrays in the main realm, and tensor() checks
  // against this one's constructors (they differ under a vm context, as in Jest).
  const Ctor = ARRAY_OF[first.dtype];
  const joined = new Ctor(arrays.reduce((sum, array) => sum + array.length, 0));
  let offset = 0;
  for (const array of arrays) {
    (joined as { set(source: ArrayLike<number | bigint>, offset: number): void }).set(array, offset);
    offset += array.length;
  }
  const rows = parts.reduce((sum, part) => sum + part.shape[0], 0);
  return tensor(joined, [rows, ...first.shape.slice(1)], { dtype: first.dtype });
}

/**
 * The article's state dict for the tensors of a transformers ViT checkpoint (ViTModel's names, or
 * ViTForImageClassification's: those under `vit.` plus `classifier`). Throws a PretrainedError naming every tensor
 * it cannot place and every block that lacks a part.
 */
export function mapTransformersViT(tensors: Map<string, Tensor>): MappedStateDict {
  const notes: string[] = [];
  const prefixed = [...tensors.keys()].some((key) => key.startsWith('vit.'));
  // Names without the `vit.` of ViTForImageClassification, and the file's own name of each.
  const local = new Map<string, Tensor>();
  const original = new Map<string, string>();
  const unknown: string[] = [];
  for (const [key, value] of tensors) {
    const name = prefixed && key.startsWith('vit.') ? key.slice(4) : key;
    if (prefixed && name === key && !key.startsWith('classifier.')) unknown.push(key);
    else {
      local.set(name, value);
      original.set(name, key);
    }
  }

  const stateDict = new Map<string, Tensor>();
  const used = new Set<string>();
  const take = (from: string, to: string) => {
    const value = local.get(from);
    if (value === undefined) return false;
    stateDict.set(to, value);
    used.add(from);
    return true;
  };
  for (const [from, to] of EMBEDDINGS) take(from, to);

  const blocks = new Map<number, string>();
  for (const key of local.keys()) {
    const match = BLOCK_KEY.exec(key);
    if (match) blocks.set(Number(match[1]), key.startsWith('layers.') ? 'layers' : 'encoder.layer');
  }
  const depth = blocks.size;
  for (let i = 0; i < depth; i++) {
    const root = blocks.get(i);
    if (root === undefined) throw new PretrainedError(`block ${i} is missing (the checkpoint has ${depth} blocks)`);
    const find = (spellings: string[], param: string) =>
      spellings.map((s) => `${root}.${i}.${s}.${param}`).find((key) => local.has(key));
    for (const param of ['weight', 'bias']) {
      const qkv = QKV_PARTS.map(([, spellings]) => find(spellings, param));
      if (qkv.every((key) => key !== undefined)) {
        stateDict.set(
          `blocks.${i}.attn.qkv.${param}`,
          catRows(
            qkv.map((key) => local.get(key!)!),
            `blocks.${i}.attn.qkv.${param}`,
          ),
        );
        for (const key of qkv) used.add(key!);
      } else if (qkv.some((key) => key !== undefined)) {
        const missing = QKV_PARTS.filter((_, j) => qkv[j] === undefined).map(([part]) => part);
        throw new PretrainedError(`block ${i} has no ${param} for ${missing.join(', ')} of its attention`);
      }
    }
    for (const [to, spellings] of BLOCK_PARTS) {
      for (const param of ['weight', 'bias']) {
        const key = find(spellings, param);
        if (key !== undefined) take(key, `blocks.${i}.${to}.${param}`);
      }
    }
  }
  take('layernorm.weight', 'norm.weight');
  take('layernorm.bias', 'norm.bias');
  take('classifier.weight', 'head.weight');
  take('classifier.bias', 'head.bias');

  for (const key of local.keys()) {
    if (used.has(key)) continue;
    const ignored = IGNORED.find(([pattern]) => pattern.test(key));
    if (ignored) notes.push(`${original.get(key)} not used: ${ignored[1]}`);
    else unknown.push(original.get(key)!);
  }
  if (unknown.length > 0) {
    throw new PretrainedError(
      `${unknown.length} tensor(s) of the checkpoint have no place in the article's ViT: ${unknown.join(', ')}`,
    );
  }
  notes.unshift(
    `transformers names mapped to the article's: ${used.size} tensors into ${stateDict.size}` +
      (depth > 0 ? ` (query, key and value joined into qkv in each of the ${depth} blocks)` : ''),
  );
  return { stateDict: orderLikeArticle(stateDict), notes };
}

/** The article's state_dict order: cls_token, pos_embed, patch_embed, blocks in order, norm, head. */
function orderLikeArticle(stateDict: Map<string, Tensor>): Map<string, Tensor> {
  const BLOCK_ORDER = ['norm1', 'attn.qkv', 'attn.proj', 'norm2', 'mlp.fc1', 'mlp.fc2'];
  const rank = (key: string): number[] => {
    const fixed = ['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias'].indexOf(key);
    if (fixed >= 0) return [fixed];
    const block = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(key);
    if (block) return [4, Number(block[1]), BLOCK_ORDER.indexOf(block[2]), block[3] === 'weight' ? 0 : 1];
    return [5, ['norm.weight', 'norm.bias', 'head.weight', 'head.bias'].indexOf(key)];
  };
  const compare = (a: number[], b: number[]): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  };
  return new Map([...stateDict].sort(([a], [b]) => compare(rank(a), rank(b))));
}
