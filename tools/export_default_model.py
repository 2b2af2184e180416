"""Package a model that `vitorch train` produced as vitorch's embedded default (assets/fashion-mnist/):
weights.pth (its best_epoch_weights.pth, checked to load strictly into the reference model), config.json
(model options, class names, preprocessing, and how it was trained and what it scored), and images/: for each
class, the first Fashion-MNIST test image of that class which the model classifies correctly (PyTorch decides), as a
PNG named <test-set index>-<class index>.png. They show what the model does; its accuracy over the whole test set
is the figure in config.json.

    python tools/export_default_model.py --run DIR --out assets/fashion-mnist --summary SUMMARY.json
"""

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reference_vit import from_options

TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
TEST_LABELS = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True, help="the --save-dir of vitorch train")
    parser.add_argument("--out", required=True)
    parser.add_argument("--summary", help="a JSON object merged into config.json's 'training' entry")
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    config = json.loads((run / "config.json").read_text())
    weights = run / "best_epoch_weights.pth"
    model = from_options(config["model"])
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)

    (out / "images").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, out / "weights.pth")
    shipped = {
        "model": config["model"],
        "classes": config["classes"],
        "preprocess": config["preprocess"],
        "training": {"config": config["train"], "augment": config["augment"]},
    }
    if args.summary:
        shipped["training"].update(json.loads(Path(args.summary).read_text()))
    (out / "config.json").write_text(json.dumps(shipped, indent=2) + "\n")

    images = np.frombuffer(gzip.open(TEST_IMAGES).read()[16:], np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(TEST_LABELS).read()[8:], np.uint8)
    for old in (out / "images").glob("*.png"):
        old.unlink()
    mean, std = config["preprocess"]["mean"][0], config["preprocess"]["std"][0]
    with torch.no_grad():
        inputs = torch.from_numpy((images.astype(np.float32) / 255.0 - mean) / std)[:, None]
        predicted = model.eval()(inputs).argmax(-1).numpy()
    for label in range(len(config["classes"])):
        index = int(np.nonzero((labels == label) & (predicted == label))[0][0])
        Image.fromarray(images[index]).save(out / "images" / f"{index:05d}-{label}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
