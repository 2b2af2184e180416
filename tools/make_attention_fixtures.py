"""Generate the fixtures test/attention.test.ts compares vitorch's attention maps and rollout against.

    python tools/make_attention_fixtures.py --out test/fixtures/generated/attention [--force]

For each model (random weights, see random_weights.py): its checkpoint, a seeded input batch, every block's
attention probabilities captured with hooks (attention_reference.py) and the attention rollout for every head fusion
and a few discard ratios; for the bfloat16 cases the same from the model and input converted to bfloat16. Arrays
are raw little-endian float32 (.f32), row-major; the maps of all blocks are stacked, [depth, N, heads, T, T].

The discard step is not continuous: in each row an entry just below that row's threshold is zeroed, one just above is
kept. So for each rollout the manifest records `thresholdGap`, the smallest distance (over images, blocks and rows)
between the last value a row drops and the first it keeps, and the test compares a rollout computed from vitorch's
own maps with PyTorch's only where that gap is wider than the maps' error; everywhere it checks vitorch's rollout
of PyTorch's maps.
"""

import torch

from attention_reference import HEAD_FUSIONS, attention_maps, attention_rollout, fuse_heads, threshold_gap
from fixture_output import run
from make_fixtures import SMALL, random_input, write_f32
from random_weights import randomize_parameters
from reference_vit import from_options

# 2: the discard step per row (issue 20) rather than over the whole matrix.
GENERATOR_VERSION = 2

MODELS = {
    # The default grid of the position table (14x14), T = 197.
    "small": {**SMALL, "depth": 2},
    # Another input size, not square: the position table is resampled from 14x14 to 6x10 (T = 61).
    "grid-6x10": {**SMALL, "inputShape": [96, 160], "depth": 3},
    # Sides that are not multiples of the patch: the convolution drops the remainder -> a 6x4 grid.
    "grid-ragged-6x4": {**SMALL, "inputShape": [100, 70], "depth": 2, "numHeads": 8},
}
BATCH = 2
DISCARD_RATIOS = [0.0, 0.5, 0.9]
WEIGHT_SEED_BASE = 2000
INPUT_SEED_BASE = 6000
# (model, dtype): bfloat16 runs the same weights and inputs converted.
CASES = [(name, "float32") for name in MODELS] + [("small", "bfloat16"), ("grid-6x10", "bfloat16")]


def grid_of(config):
    height, width = config["inputShape"]
    return [height // config["patchSize"], width // config["patchSize"]]


def fixture_threshold_gap(maps, head_fusion, discard_ratio):
    """The smallest per-row threshold gap (attention_reference.threshold_gap) over images and blocks."""
    gaps = [threshold_gap(fuse_heads(image, head_fusion), discard_ratio) for block in maps for image in block]
    return min(gap for gap in gaps if gap is not None)


def check_hooks_see_the_module(model, images, maps):
    """The probabilities the hooks recompute equal the ones the reference module itself computes (and drops out
    through attn_drop, the module vit-explain hooks): the recomputation is the module's arithmetic."""
    seen = []
    handles = [
        block.attn.attn_drop.register_forward_hook(lambda _m, _i, output: seen.append(output.float()))
        for block in model.blocks
    ]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    assert len(seen) == len(maps) and all(torch.equal(a, b) for a, b in zip(seen, maps, strict=True))


def generate(out_dir, _args):
    manifest = {"models": {}, "cases": []}
    models = {}
    for index, (name, config) in enumerate(MODELS.items()):
        model = randomize_parameters(from_options(config).eval(), WEIGHT_SEED_BASE + index)
        torch.save(model.state_dict(), out_dir / f"{name}.pth")
        manifest["models"][name] = {"checkpoint": f"{name}.pth", "config": config, "grid": grid_of(config)}
        models[name] = model

    for name, dtype in CASES:
        config = MODELS[name]
        model = models[name]
        index = list(MODELS).index(name)
        images = random_input([BATCH, config["inChans"], *config["inputShape"]], INPUT_SEED_BASE + index)
        if dtype == "bfloat16":
            model = from_options(config).eval()
            model.load_state_dict(models[name].state_dict())
            model = model.to(torch.bfloat16)
            images_in = images.to(torch.bfloat16)
        else:
            images_in = images
        maps = attention_maps(model, images_in)
        if dtype == "float32":
            check_hooks_see_the_module(model, images_in, maps)
        stacked = torch.stack(maps)
        case = f"{name}-{dtype}"
        write_f32(out_dir / f"{case}.input.f32", images)
        write_f32(out_dir / f"{case}.maps.f32", stacked)
        rollouts = []
        for head_fusion in HEAD_FUSIONS:
            for discard_ratio in DISCARD_RATIOS:
                result = attention_rollout(maps, head_fusion, discard_ratio, grid_of(config))
                file = f"{case}.rollout-{head_fusion}-{discard_ratio}.f32"
                write_f32(out_dir / file, result)
                rollouts.append(
                    {
                        "headFusion": head_fusion,
                        "discardRatio": discard_ratio,
                        "file": file,
                        "shape": list(result.shape),
                        "thresholdGap": fixture_threshold_gap(maps, head_fusion, discard_ratio)
                        if discard_ratio
                        else None,
                    }
                )
        manifest["cases"].append(
            {
                "name": case,
                "model": name,
                "dtype": dtype,
                "input": f"{case}.input.f32",
                "inputShape": list(images.shape),
                "maps": f"{case}.maps.f32",
                "mapsShape": list(stacked.shape),
                "rollouts": rollouts,
            }
        )
    return manifest


if __name__ == "__main__":
    run(
        "attention",
        generate,
        stamp={"generatorVersion": GENERATOR_VERSION, "torch": torch.__version__},
        whole_folder=True,
        description=__doc__.splitlines()[0],
    )
