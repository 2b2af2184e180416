"""PyTorch reference of the Vision Transformer that vitorch reproduces (test-time only).

The Jest tests compare the native addon against numbers produced by this module, so it
has to define exactly the model of the specification: same classes, same attribute names
(hence the same state_dict keys, in the same order), same defaults and the same arithmetic.
It is written from the specification, not copied from it.

Model summary:
  * a stride=kernel=patch_size convolution cuts the image into patches -> [B, h*w, D];
  * a learned class token is prepended and a learned position table is added; the table
    always has (224 // patch)^2 + 1 rows, and its image rows are resampled bicubically
    (align_corners=False) from the 224-pixel grid to the grid of `input_shape` at every
    forward;
  * `depth` pre-norm transformer blocks (LayerNorm eps 1e-6, tanh-form GELU);
  * a final LayerNorm; the class token row is classified by a Linear head
    (or returned as-is when num_classes is 0).
"""

import math
import re
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

# The position table is always laid out for a 224x224 image, whatever input_shape is.
PRETRAIN_SIZE = 224

# Where the specification's factory looks for weights when called with pretrained=True.
DEFAULT_PRETRAINED_PATH = "model_data/vit-patch_16.pth"

# How many leading blocks freeze_backbone covers.
FROZEN_BLOCK_COUNT = 8


class GELU(nn.Module):
    """GELU in its tanh approximation, evaluated term by term as the specification does:
    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))).
    The cube goes through torch.pow and the constant is a Python double, so the float32
    rounding matches the specification's expression step for step."""

    def forward(self, x):
        sqrt_two_over_pi = math.sqrt(2 / math.pi)
        inner = sqrt_two_over_pi * (x + 0.044715 * torch.pow(x, 3))
        return 0.5 * x * (1 + torch.tanh(inner))


def drop_path(x, drop_prob=0.0, training=False):
    """Stochastic depth: during training, zero whole samples with probability drop_prob and
    rescale the survivors by 1/keep_prob; outside training it returns x untouched."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    # One draw per sample, broadcast over every other dimension.
    mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    keep_mask = torch.floor(keep_prob + torch.rand(mask_shape, dtype=x.dtype, device=x.device))
    return x.div(keep_prob) * keep_mask


class DropPath(nn.Module):
    """Module wrapper of drop_path; has no parameters, so it never shows in a state_dict."""

    def __init__(self, drop_prob=None):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)


class PatchEmbed(nn.Module):
    """Image [B, C, H, W] -> patch tokens [B, (H//p)*(W//p), D] with one strided convolution.
    `norm` is an Identity unless a norm layer is given (the model never gives one)."""

    def __init__(
        self, input_shape=(224, 224), patch_size=16, in_chans=3, num_features=768, norm_layer=None, flatten=True
    ):
        super().__init__()
        # Kept for parity with the specification; nothing reads it.
        self.num_patches = (input_shape[0] // patch_size) * (input_shape[1] // patch_size)
        self.flatten = flatten
        self.proj = nn.Conv2d(in_chans, num_features, kernel_size=patch_size, stride=patch_size)
        self.norm = norm_layer(num_features) if norm_layer else nn.Identity()

    def forward(self, x):
        x = self.proj(x)
        if self.flatten:
            # [B, D, h, w] -> [B, h*w, D], patches in row-major (h outer, w inner) order.
            x = x.flatten(2).transpose(1, 2)
        return self.norm(x)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection.
    Scores are (q @ k^T) multiplied by head_dim^-0.5 afterwards (not q pre-scaled)."""

    def __init__(self, dim, num_heads=8, qkv_bias=False, attn_drop=0.0, proj_drop=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        # The output projection always has a bias, whatever qkv_bias says.
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        batch, tokens, channels = x.shape
        head_dim = channels // self.num_heads
        # qkv features are laid out as [3][heads][head_dim] along the last axis.
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # -> [3, B, heads, tokens, head_dim]
        query, key, value = qkv[0], qkv[1], qkv[2]

        scores = (query @ key.transpose(-2, -1)) * self.scale
        weights = self.attn_drop(scores.softmax(dim=-1))

        mixed = (weights @ value).transpose(1, 2).reshape(batch, tokens, channels)
        return self.proj_drop(self.proj(mixed))


class Mlp(nn.Module):
    """Two Linear layers with the activation between; dropout after each."""

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=GELU, drop=0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        x = self.drop1(self.act(self.fc1(x)))
        return self.drop2(self.fc2(x))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)).
    Registration order norm1, attn, norm2, mlp fixes the order of its state_dict keys."""

    def __init__(
        self,
        dim,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=False,
        drop=0.0,
        attn_drop=0.0,
        drop_path=0.0,
        act_layer=GELU,
        norm_layer=nn.LayerNorm,
    ):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer, drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class VisionTransformer(nn.Module):
    """The whole network. `input_shape` is fixed at construction: it decides the grid the
    position table is resampled to, so images of another grid size do not fit."""

    def __init__(
        self,
        input_shape=(224, 224),
        patch_size=16,
        in_chans=3,
        num_classes=1000,
        num_features=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_rate=0.1,
        attn_drop_rate=0.1,
        drop_path_rate=0.1,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),  # noqa: B008 - the seed's signature verbatim; a partial is immutable
        act_layer=GELU,
    ):
        super().__init__()
        self.patch_embed = PatchEmbed(
            input_shape=input_shape, patch_size=patch_size, in_chans=in_chans, num_features=num_features
        )
        self.num_features = num_features
        pretrain_grid = PRETRAIN_SIZE // patch_size
        self.old_feature_shape = [pretrain_grid, pretrain_grid]
        self.new_feature_shape = [int(input_shape[0] // patch_size), int(input_shape[1] // patch_size)]

        # Own parameters. A state_dict lists a module's own parameters before those of its
        # children, so these two keys come first, ahead of patch_embed.*.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, num_features))
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid * pretrain_grid + 1, num_features))
        self.pos_drop = nn.Dropout(p=drop_rate)

        # Stochastic depth grows linearly from 0 (first block) to drop_path_rate (last).
        drop_path_rates = [rate.item() for rate in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.Sequential(
            *[
                Block(
                    dim=num_features,
                    num_heads=num_heads,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=drop_path_rates[index],
                    norm_layer=norm_layer,
                    act_layer=act_layer,
                )
                for index in range(depth)
            ]
        )
        self.norm = norm_layer(num_features)
        self.head = nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()

    def resampled_pos_embed(self):
        """The position table for this model's grid: row 0 (class token) unchanged, the
        image rows viewed as a 224-pixel grid and resized bicubically to the new grid."""
        class_row = self.pos_embed[:, :1, :]
        grid_rows = self.pos_embed[:, 1:, :]
        grid = grid_rows.reshape(1, *self.old_feature_shape, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=self.new_feature_shape, mode="bicubic", align_corners=False)
        grid_rows = grid.permute(0, 2, 3, 1).flatten(1, 2)
        return torch.cat([class_row, grid_rows], dim=1)

    def forward_features(self, x):
        """Image batch -> final-normed class-token features [B, num_features]."""
        tokens = self.patch_embed(x)
        class_tokens = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat((class_tokens, tokens), dim=1)
        tokens = self.pos_drop(tokens + self.resampled_pos_embed())
        tokens = self.norm(self.blocks(tokens))
        return tokens[:, 0]

    def forward(self, x):
        return self.head(self.forward_features(x))

    def _backbone_parameters(self):
        """Exactly what freeze_backbone covers: patch embedding, class token, position
        table and the first FROZEN_BLOCK_COUNT blocks (all blocks if there are fewer)."""
        yield from self.patch_embed.parameters()
        yield self.cls_token
        yield self.pos_embed
        yield from self.blocks[:FROZEN_BLOCK_COUNT].parameters()

    def freeze_backbone(self):
        for parameter in self._backbone_parameters():
            parameter.requires_grad = False

    def Unfreeze_backbone(self):  # noqa: N802 - the name is part of the specification
        for parameter in self._backbone_parameters():
            parameter.requires_grad = True


def vit(input_shape=(224, 224), pretrained=False, num_classes=1000, **model_options):
    """Factory of the specification: build with 1000 classes, load weights, then swap in a
    fresh Linear head when another class count is asked for.

    pretrained: False/None = random init; a path = load that state_dict strictly; True = the
    specification's fixed path. model_options (an extension: the specification always builds
    ViT-B/16) lets tests use small checkpoints; they go to VisionTransformer unchanged.
    Note that, as in the specification, num_classes=0 gives Linear(num_features, 0), not an
    Identity head.
    """
    model = VisionTransformer(input_shape, num_classes=1000, **model_options)
    if pretrained:
        checkpoint_path = DEFAULT_PRETRAINED_PATH if pretrained is True else pretrained
        state_dict = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict, strict=True)
    if num_classes != 1000:
        model.head = nn.Linear(model.num_features, num_classes)
    return model


def from_options(options):
    """The reference model for vitorch's camelCase model options (a config's "model", a fixture manifest's "config"):
    each is this module's snake_case keyword argument (inputShape -> input_shape); an unknown one is a TypeError.
    vitorch's two options for other families' checkpoints become the layers the seed's signature takes: `activation`
    'gelu' is torch's exact (erf) nn.GELU, 'gelu-tanh' this module's GELU; `layerNormEps` the LayerNorms' eps."""
    options = dict(options)
    layers = {}
    if "activation" in options:
        activation = options.pop("activation")
        if activation not in ("gelu", "gelu-tanh"):
            raise ValueError(f"unknown activation {activation!r}")
        layers["act_layer"] = nn.GELU if activation == "gelu" else GELU
    if "layerNormEps" in options:
        layers["norm_layer"] = partial(nn.LayerNorm, eps=options.pop("layerNormEps"))
    return VisionTransformer(
        **{
            re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): list(value) if key == "inputShape" else value
            for key, value in options.items()
        },
        **layers,
    )
