"""Deterministic, non-trivial random weights for the reference ViT (fixtures and timm check).

A freshly built model has zero class token, zero position table, unit/zero LayerNorms and
the default Linear init; with such weights a wrong implementation of those parts would
still match. Here every parameter is drawn from a seeded generator so each part of the
network moves the output:
  * Linear / Conv2d weights ~ N(0, 1/fan_in): unit gain, so attention scores are of order
    one and the softmax is far from uniform;
  * their biases ~ N(0, 0.1^2);
  * LayerNorm weight ~ 1 + N(0, 0.2^2), bias ~ N(0, 0.2^2);
  * class token and position table ~ N(0, 0.5^2), comparable to the patch embeddings.
"""

import math

import torch
import torch.nn as nn

from reference_vit import VisionTransformer

LINEAR_BIAS_STD = 0.1
NORM_STD = 0.2
TOKEN_STD = 0.5


def randomize_parameters(model, seed):
    """Overwrite every parameter of `model` in place; the same seed gives the same weights.
    Draws happen in module order, so the result does not depend on anything else."""
    generator = torch.Generator().manual_seed(seed)

    def draw_(tensor, mean, std):
        tensor.normal_(mean, std, generator=generator)

    seen = set()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fan_in = math.prod(module.weight.shape[1:])
                draw_(module.weight, 0.0, 1.0 / math.sqrt(fan_in))
                if module.bias is not None:
                    draw_(module.bias, 0.0, LINEAR_BIAS_STD)
            elif isinstance(module, nn.LayerNorm):
                draw_(module.weight, 1.0, NORM_STD)
                draw_(module.bias, 0.0, NORM_STD)
            else:
                continue
            seen.update(id(parameter) for parameter in module.parameters(recurse=False))
        if isinstance(model, VisionTransformer):
            draw_(model.cls_token, 0.0, TOKEN_STD)
            draw_(model.pos_embed, 0.0, TOKEN_STD)
            seen.update({id(model.cls_token), id(model.pos_embed)})

    # Guard against a future parameter that none of the rules above would touch.
    untouched = [name for name, parameter in model.named_parameters() if id(parameter) not in seen]
    if untouched:
        raise RuntimeError(f"randomize_parameters left these at their init: {untouched}")
    return model
