"""PyTorch's side of `npm run check:releases`: small reference models, their checkpoints, an
input batch and PyTorch's output for it, made with whichever torch runs this script (the
check runs it with each release's own Python environment, so each release is compared
with its own numbers).

    python tools/release_reference.py --out DIR

Writes into DIR, for every case: CASE.pth (torch.save(model.state_dict(), ...) in the
default zip format), CASE.input.f32 and CASE.output.f32 (raw little-endian float32,
row-major), and DIR/reference.json naming them with their shapes, the model config (in
vitorch's camelCase option names) and torch.__version__.

The models are deliberately small (a release check runs it ten times on a CPU); one has
a non-square input so that the bicubic resampling of the position table to a non-square
grid is compared too. Everything is seeded: the same torch gives the same bytes.
"""

import argparse
import json
from pathlib import Path

import torch

from make_fixtures import SMALL, build_model, write_f32
from random_weights import randomize_parameters

BASE_CONFIG = {**SMALL, "inputShape": [32, 32], "patchSize": 8}

# Case name -> model config; the 32x48 input gives a 4x6 grid.
CASES = {
    "square-32x32": BASE_CONFIG,
    "wide-32x48": {**BASE_CONFIG, "inputShape": [32, 48]},
}

BATCH = 2
WEIGHT_SEED_BASE = 7000
INPUT_SEED_BASE = 8000


def make_case(out_dir, name, config, index):
    """Checkpoint, input and output of one case; returns its entry for reference.json."""
    model = randomize_parameters(build_model(config), WEIGHT_SEED_BASE + index)
    checkpoint = f"{name}.pth"
    torch.save(model.state_dict(), out_dir / checkpoint)

    height, width = config["inputShape"]
    generator = torch.Generator().manual_seed(INPUT_SEED_BASE + index)
    images = torch.randn([BATCH, config["inChans"], height, width], generator=generator)
    with torch.no_grad():
        outputs = model(images)
    write_f32(out_dir / f"{name}.input.f32", images)
    write_f32(out_dir / f"{name}.output.f32", outputs)
    return {
        "name": name,
        "config": config,
        "checkpoint": checkpoint,
        "input": f"{name}.input.f32",
        "inputShape": list(images.shape),
        "output": f"{name}.output.f32",
        "outputShape": list(outputs.shape),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write into (created if absent)")
    args = parser.parse_args()

    # The check runs on a shared machine; two threads are plenty for these models.
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    cases = [make_case(args.out, name, config, index) for index, (name, config) in enumerate(CASES.items())]
    reference = {"torchVersion": torch.__version__, "cases": cases}
    (args.out / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"release_reference: torch {torch.__version__}, {len(cases)} cases in {args.out}")


if __name__ == "__main__":
    main()
