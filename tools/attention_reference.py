"""PyTorch reference for vitorch's attention maps and attention rollout (test-time only).

Attention maps: forward hooks on the attention modules of reference_vit.py's model, the way users capture them in
Python. A hook cannot read the probabilities off the module when the module never materialises them (fused
attention kernels such as scaled_dot_product_attention: the problem hook-based tools ran into), so the hook here
recomputes them from its input as the module's own arithmetic does: qkv = Linear(x), split into heads, softmax(q k^T
* scale). It depends on no intermediate the module keeps, so it works whether the forward is fused or not.

Attention rollout (Abnar and Zuidema, "Quantifying Attention Flow in Transformers", 2020) with issue 20's discard
rule, one row at a time:
  * heads fused by their mean, maximum or minimum;
  * in each row of the fused T x T matrix, the lowest int((T-1)*discard_ratio) entries among the columns other than
    column 0 set to 0; column 0, attention to the class token, is never dropped. Ties at the cut: of equal values the
    lower column is dropped first (numpy's stable argsort);
  * (A + I) / 2, each row divided by its own sum;
  * the product A_L ... A_1 over the blocks; the class token's row over the patches, divided by its maximum (a row of
    zeros stays zeros rather than becoming NaN).
jacobgil/vit-explain (vit_rollout.py, `rollout`, commit 15a81d3) drops instead the lowest int(T*T*discard_ratio)
entries of the whole flattened matrix, sparing entry [0, 0] only, in the first image of a batch only, and divides by
`a.sum(dim=-1)` without keepdim (its issue #16). With discard_ratio 0 the rules coincide.
Written for clarity, one image at a time, sharing no code with vitorch.
"""

import contextlib

import numpy as np
import torch

from reference_vit import Attention

HEAD_FUSIONS = ("mean", "max", "min")


def attention_probabilities(module, tokens):
    """softmax(q k^T * scale) of an Attention module for its input tokens [B, T, D] -> [B, heads, T, T], by the
    module's own arithmetic (reference_vit.Attention.forward)."""
    batch, length, channels = tokens.shape
    head_dim = channels // module.num_heads
    qkv = module.qkv(tokens).reshape(batch, length, 3, module.num_heads, head_dim).permute(2, 0, 3, 1, 4)
    query, key = qkv[0], qkv[1]
    return ((query @ key.transpose(-2, -1)) * module.scale).softmax(dim=-1)


@contextlib.contextmanager
def captured_attention(model):
    """Within the block, every forward of `model` appends each attention module's probabilities (float32, in block
    order) to the yielded list."""
    maps = []

    def hook(module, inputs, _output):
        with torch.no_grad():
            maps.append(attention_probabilities(module, inputs[0]).float())

    handles = [module.register_forward_hook(hook) for module in model.modules() if isinstance(module, Attention)]
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


def attention_maps(model, images):
    """Each block's attention probabilities for `images` in evaluation mode: a list of [N, heads, T, T] float32."""
    assert not model.training, "attention maps are taken in evaluation mode"
    with torch.no_grad(), captured_attention(model) as maps:
        model(images)
    return maps


def fuse_heads(attention, head_fusion):
    """[heads, T, T] -> [T, T]."""
    if head_fusion == "mean":
        return attention.mean(dim=0)
    if head_fusion == "max":
        return attention.max(dim=0).values
    if head_fusion == "min":
        return attention.min(dim=0).values
    raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")


def discard_lowest(fused, discard_ratio):
    """Each row of a [T, T] matrix with its lowest int((T-1)*discard_ratio) entries of columns 1.. set to 0."""
    rows = fused.numpy().copy()
    count = int((rows.shape[1] - 1) * discard_ratio)
    for row in rows:
        if count > 0:
            # Column 0 is left out of the ranking; positions in `others` are columns 1.. shifted by one.
            others = row[1:]
            others[np.argsort(others, kind="stable")[:count]] = 0
    return torch.from_numpy(rows)


def threshold_gap(fused, discard_ratio):
    """The smallest gap, over the rows of a fused [T, T] matrix, between the largest entry discard_lowest drops and
    the smallest it keeps among columns 1..; None when nothing is dropped. A comparison of rollouts at tolerance t
    from maps that differ by t can choose other entries only where this gap is below about 2 t."""
    count = int((fused.shape[1] - 1) * discard_ratio)
    if count == 0:
        return None
    ranked = np.sort(fused.numpy()[:, 1:], axis=1)
    return float((ranked[:, count] - ranked[:, count - 1]).min())


def rollout_one(maps, head_fusion, discard_ratio, grid):
    """One image's rollout: maps is each block's [heads, T, T]; returns [grid_h, grid_w]."""
    length = maps[0].shape[-1]
    identity = torch.eye(length)
    flow = identity
    for attention in maps:
        fused = discard_lowest(fuse_heads(attention.float(), head_fusion), discard_ratio)
        step = (fused + identity) / 2
        step = step / step.sum(dim=-1, keepdim=True)
        flow = step @ flow
    mask = flow[0, 1:]
    peak = mask.max()
    if peak > 0:
        mask = mask / peak
    return mask.reshape(grid)


def attention_rollout(maps, head_fusion, discard_ratio, grid):
    """Rollout of each image of a batch: maps is each block's [N, heads, T, T]; returns [N, grid_h, grid_w]."""
    return torch.stack(
        [
            rollout_one([block[image] for block in maps], head_fusion, discard_ratio, grid)
            for image in range(maps[0].shape[0])
        ]
    )
