"""PyTorch's answer for a classifier vitorch ships or trains: load WEIGHTS strictly into the reference
model built from CONFIG's model options, then either

- preprocess each grey PNG as CONFIG says (x / 255, then (x - mean) / std; the images are already the
  model's size), and print JSON with each image's softmax:

    python tools/classify_reference.py --config C.json --weights W.pth IMAGE...

- or, with --logits, read JSON {"inputs": [{"shape": [N, C, H, W], "data": [N*C*H*W floats]}, ...]} on
  stdin (model inputs as they are, no preprocessing: what the Open Inference Protocol routes take), and
  print JSON {"logits": [[N*classes floats], ...]}, one row-major array per input, computed in float32:

    python tools/classify_reference.py --config C.json --weights W.pth --logits < REQUEST.json
"""

import argparse
import json
import sys

import numpy as np
import torch
from PIL import Image

from reference_vit import from_options


def image_batch(config, images):
    mean = np.array(config["preprocess"]["mean"], np.float32)
    std = np.array(config["preprocess"]["std"], np.float32)
    batch = []
    for path in images:
        pixels = np.asarray(Image.open(path).convert("L"), np.float32) / 255.0
        batch.append(((pixels - mean[0]) / std[0])[None])
    return torch.from_numpy(np.stack(batch))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--logits", action="store_true", help="raw inputs on stdin, logits out")
    parser.add_argument("images", nargs="*")
    args = parser.parse_args()
    if args.logits == bool(args.images):
        parser.error("give either IMAGE... or --logits (with the inputs on stdin)")
    with open(args.config) as file:
        config = json.load(file)
    model = from_options(config["model"]).eval()
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True), strict=True)
    with torch.no_grad():
        if args.logits:
            inputs = json.load(sys.stdin)["inputs"]
            logits = [
                model(torch.tensor(item["data"], dtype=torch.float32).reshape(item["shape"])).flatten().tolist()
                for item in inputs
            ]
            json.dump({"logits": logits}, sys.stdout)
        else:
            probabilities = model(image_batch(config, args.images)).softmax(-1)
            json.dump({"probabilities": probabilities.tolist()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
