"""PyTorch's answer for a classifier vitorch ships or trains: load WEIGHTS strictly into the reference
model built from CONFIG's model options, preprocess each grey PNG as CONFIG says (x / 255, then
(x - mean) / std; the images are already the model's size), and print JSON with each image's softmax.

    python tools/classify_reference.py --config C.json --weights W.pth IMAGE...
"""

import argparse
import json
import sys

import numpy as np
import torch
from PIL import Image

from export_default_model import reference_model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    config = json.load(open(args.config))
    model = reference_model(config["model"]).eval()
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True), strict=True)
    mean = np.array(config["preprocess"]["mean"], np.float32)
    std = np.array(config["preprocess"]["std"], np.float32)
    batch = []
    for path in args.images:
        pixels = np.asarray(Image.open(path).convert("L"), np.float32) / 255.0
        batch.append(((pixels - mean[0]) / std[0])[None])
    with torch.no_grad():
        probabilities = model(torch.from_numpy(np.stack(batch))).softmax(-1)
    json.dump({"probabilities": probabilities.tolist()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
