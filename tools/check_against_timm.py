"""Cross-check tools/reference_vit.py against an independent implementation (timm 1.0.11).

    python tools/check_against_timm.py

Where the two models mean the same thing they must give the same numbers:
  1. the reference GELU equals torch's tanh-approximate GELU;
  2. ViT-B/16 and a small config at 224x224 (the 14x14 grid, where the bicubic resample of
     the position table is the identity): timm's VisionTransformer loads the reference's
     state_dict strictly (same key names; the order is compared too) and gives the same
     logits;
  3. other grids: timm is built for that image size and given the position table resampled
     by timm's own resample_abs_pos_embed (bicubic, no antialias), which checks the
     reference's resample and the row-major order of patch tokens.
Prints every figure and exits non-zero if any check fails.
"""

import sys
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer as TimmVisionTransformer

from random_weights import randomize_parameters
from reference_vit import GELU, VisionTransformer

GELU_TOLERANCE = 1e-6
# Relative to the largest logit: the two differ in float32 summation order only (timm uses
# fused scaled-dot-product attention and scales q before the product).
LOGIT_RELATIVE_TOLERANCE = 1e-5
# Both sides call the same interpolation kernel, so the tables should agree exactly.
TABLE_TOLERANCE = 1e-6

VIT_B16 = dict(
    patch_size=16, in_chans=3, num_classes=1000, num_features=768, depth=12, num_heads=12, mlp_ratio=4.0, qkv_bias=True
)
SMALL = dict(
    patch_size=16, in_chans=3, num_classes=10, num_features=64, depth=2, num_heads=4, mlp_ratio=4.0, qkv_bias=True
)
# The non-default options together, at a non-224 grid as well.
SMALL_VARIANT = dict(
    patch_size=32, in_chans=1, num_classes=5, num_features=64, depth=2, num_heads=4, mlp_ratio=2.0, qkv_bias=False
)

# (label, options, input height and width, batch)
CONFIGS = [
    ("ViT-B/16 224x224", VIT_B16, (224, 224), 2),
    ("small 224x224", SMALL, (224, 224), 3),
    ("small 160x288 (10x18)", SMALL, (160, 288), 2),
    ("small 320x320 (20x20)", SMALL, (320, 320), 1),
    ("small 96x128 (6x8)", SMALL, (96, 128), 2),
    ("small 100x70 (6x4)", SMALL, (100, 70), 2),
    ("small headless (numClasses 0)", {**SMALL, "num_classes": 0}, (224, 224), 2),
    ("small patch32 1ch 224x224", SMALL_VARIANT, (224, 224), 2),
    ("small patch32 1ch 256x192 (8x6)", SMALL_VARIANT, (256, 192), 2),
]

failures = []


def report(label, value, tolerance):
    passed = value <= tolerance
    if not passed:
        failures.append(label)
    print(f"{'ok  ' if passed else 'FAIL'} {label}: {value:.3e} (tolerance {tolerance:.0e})")


def check_gelu():
    generator = torch.Generator().manual_seed(0)
    samples = torch.cat([torch.linspace(-10, 10, 200001), 4 * torch.randn(100000, generator=generator)])
    difference = (GELU()(samples) - F.gelu(samples, approximate="tanh")).abs().max().item()
    report("GELU vs F.gelu(approximate='tanh'), max|diff| over [-10, 10]", difference, GELU_TOLERANCE)


def timm_model(options, image_size):
    return TimmVisionTransformer(
        img_size=image_size,
        patch_size=options["patch_size"],
        in_chans=options["in_chans"],
        num_classes=options["num_classes"],
        global_pool="token",
        embed_dim=options["num_features"],
        depth=options["depth"],
        num_heads=options["num_heads"],
        mlp_ratio=options["mlp_ratio"],
        qkv_bias=options["qkv_bias"],
        class_token=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        act_layer=partial(nn.GELU, approximate="tanh"),
    ).eval()


def check_config(index, label, options, image_size, batch):
    reference = VisionTransformer(input_shape=list(image_size), **options).eval()
    randomize_parameters(reference, seed=100 + index)
    state_dict = reference.state_dict()

    timm_vit = timm_model(options, image_size)
    timm_keys = list(timm_vit.state_dict().keys())
    if timm_keys != list(state_dict.keys()):
        failures.append(f"{label}: key names/order")
        print(
            f"FAIL {label}: keys differ: only reference "
            f"{sorted(set(state_dict) - set(timm_keys))}, only timm "
            f"{sorted(set(timm_keys) - set(state_dict))}"
        )
    if image_size == (224, 224):
        # Same table as the reference uses (its resample is the identity on 14x14).
        timm_state = state_dict
    else:
        # timm keeps one table per image size; give it the 224 one resampled by timm itself.
        timm_state = dict(state_dict)
        grid = [size // options["patch_size"] for size in image_size]
        timm_state["pos_embed"] = resample_abs_pos_embed(
            state_dict["pos_embed"], new_size=grid, num_prefix_tokens=1, interpolation="bicubic", antialias=False
        )
        # And the resample on its own, reference vs timm.
        with torch.no_grad():
            table_difference = (reference.resampled_pos_embed() - timm_state["pos_embed"]).abs().max().item()
        report(f"{label}: resampled position table vs timm, max|diff|", table_difference, TABLE_TOLERANCE)
    result = timm_vit.load_state_dict(timm_state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys, result

    generator = torch.Generator().manual_seed(200 + index)
    images = torch.randn(batch, options["in_chans"], *image_size, generator=generator)
    with torch.no_grad():
        ours = reference(images)
        theirs = timm_vit(images)
    scale = theirs.abs().max().item()
    difference = (ours - theirs).abs().max().item()
    print(f"     {label}: output {list(ours.shape)}, max|value| {scale:.3f}, max|diff| {difference:.3e}")
    report(f"{label}: output max|diff| / max|value|", difference / scale, LOGIT_RELATIVE_TOLERANCE)


def main():
    torch.set_grad_enabled(False)
    check_gelu()
    for index, (label, options, image_size, batch) in enumerate(CONFIGS):
        check_config(index, label, options, image_size, batch)
    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        return 1
    print("reference agrees with timm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
