"""Write a stand-in for the seed's model_data/vit-patch_16.pth, for the demo.

The real ImageNet weights cannot be downloaded here, so this saves a ViT-B/16 state_dict (1000 classes) with
seeded random weights, exactly as torch.save writes a real one. The demo's numbers are then meaningless as
classes, but every byte path (checkpoint reading, strict loading, inference) is the real one. An existing file
is left alone, so a real checkpoint put there is used instead.

    python tools/make_demo_checkpoint.py model_data/vit-patch_16.pth
"""

import sys
from pathlib import Path

import torch

from random_weights import randomize_parameters
from reference_vit import VisionTransformer

DEMO_WEIGHT_SEED = 16


def main(argv):
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    target = Path(argv[0])
    if target.exists():
        print(f"{target} exists; using it")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    model = randomize_parameters(VisionTransformer(), DEMO_WEIGHT_SEED)
    partial = target.with_suffix(".partial")
    torch.save(model.state_dict(), partial)
    partial.replace(target)
    print(f"wrote {target} (ViT-B/16, random weights standing in for the ImageNet checkpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
