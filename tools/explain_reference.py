"""PyTorch's answer for `vitorch explain` on the embedded model's kind of image (test-time only): load WEIGHTS strictly
into the reference model built from CONFIG's model options, preprocess each grey PNG as tools/classify_reference.py
does (the images are already the model's size), and print JSON with, per image, the softmax probabilities and the
attention rollout of tools/attention_reference.py (hooks on the reference model's attention modules, the rollout
computed on its own) for the head fusion and discard ratio given, as [grid_h][grid_w] lists:

    python tools/explain_reference.py --config C.json --weights W.pth [--head-fusion mean] [--discard-ratio 0.9] \
        IMAGE...

Each image also gets `threshold_gap`: over the blocks and the rows of the fused matrix, the smallest distance between
the last entry a row discards and the first it keeps (null without discarding). The discard step is discontinuous,
so a comparison at a tolerance t holds only where this gap exceeds about 2 t (test/attention.test.ts explains the
argument).
"""

import argparse
import json
import sys

import torch

from attention_reference import HEAD_FUSIONS, attention_maps, attention_rollout, fuse_heads, threshold_gap
from classify_reference import image_batch
from reference_vit import from_options


def image_threshold_gap(maps, head_fusion, discard_ratio):
    """The smallest per-row threshold gap (attention_reference.threshold_gap) over the blocks of one image."""
    gaps = [threshold_gap(fuse_heads(attention.float(), head_fusion), discard_ratio) for attention in maps]
    gaps = [gap for gap in gaps if gap is not None]
    return min(gaps) if gaps else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--head-fusion", choices=HEAD_FUSIONS, default="mean")
    parser.add_argument("--discard-ratio", type=float, default=0.9)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    with open(args.config) as file:
        config = json.load(file)
    model = from_options(config["model"]).eval()
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True), strict=True)
    images = image_batch(config, args.images)
    patch = config["model"]["patchSize"]
    grid = (images.shape[2] // patch, images.shape[3] // patch)
    with torch.no_grad():
        probabilities = model(images).softmax(-1)
    maps = attention_maps(model, images)
    rollouts = attention_rollout(maps, args.head_fusion, args.discard_ratio, grid)
    result = [
        {
            "image": path,
            "probabilities": probabilities[i].tolist(),
            "rollout": rollouts[i].tolist(),
            "threshold_gap": image_threshold_gap([block[i] for block in maps], args.head_fusion, args.discard_ratio),
        }
        for i, path in enumerate(args.images)
    ]
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
