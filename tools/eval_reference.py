"""PyTorch oracle of `vitorch eval` and `vitorch predict` (test/cli-eval.test.ts): what the reference model
(tools/reference_vit.py) says about the same weights, config and inputs, computed without vitorch.

    python tools/eval_reference.py eval --config CONFIG.json --weights W.pth --images IDX --labels IDX
    python tools/eval_reference.py predict --config CONFIG.json --weights W.pth [--top K] IMAGE...
    python tools/eval_reference.py check-load --config CONFIG.json --weights W.pth

Every command builds reference_vit.VisionTransformer from CONFIG's `model` options (the camelCase names of
vitorch's config translated to the reference's keyword arguments, unset ones left at the shared defaults), reads
W with torch.load(weights_only=True) and loads it with strict=True, then prints one JSON document on stdout:
  eval        count, loss (mean cross-entropy), top1, top5, predictions, labels, perClass (precision and recall
              null where 0 / 0), confusion (rows true class, columns predicted), from numpy counting
  predict     [{image, top: [{label, index, probability}]}]: softmax of the logits, torch.topk
  check-load  the state dict's keys in file order and the model's, and the parameter count
IDX images are normalised as torchvision's ToTensor + Normalize do (float32 steps) with CONFIG's mean and std;
image files as the seed's preprocess_input does (x / 255 in float32, then float64 mean and std). Only image files
already of the model's size are accepted: resizing and cropping are tested against PIL in test/data-preprocess.
Exit 1 with a message on stderr when a file does not fit.
"""

import argparse
import gzip
import json
import math
import os
import re
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_vit import VisionTransformer  # noqa: E402

MODEL_KEYS = [
    "inputShape",
    "patchSize",
    "inChans",
    "numClasses",
    "numFeatures",
    "depth",
    "numHeads",
    "mlpRatio",
    "qkvBias",
    "dropRate",
    "attnDropRate",
    "dropPathRate",
]


def fail(message):
    print(f"eval_reference: {message}", file=sys.stderr)
    sys.exit(1)


def read_config(path):
    with open(path) as f:
        config = json.load(f)
    for key in ("model", "classes", "preprocess"):
        if key not in config:
            fail(f"{path}: no {key!r} (expected a config.json that vitorch train wrote)")
    return config


def build_model(config, weights):
    options = {}
    for key, value in config["model"].items():
        if key not in MODEL_KEYS:
            fail(f"unknown model option {key!r}")
        options[re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)] = (
            tuple(value) if key == "inputShape" else value
        )
    model = VisionTransformer(**options)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval(), state


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        fail(f"{path}: not an unsigned-byte IDX file")
    ndims = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndims, offset=4).astype(int).tolist()
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def per_channel(values, channels):
    return [float(v) for v in (values * channels if len(values) == 1 else values)]


def logits_of(model, images, batch=256):
    with torch.no_grad():
        return torch.cat([model(images[i : i + batch]) for i in range(0, len(images), batch)])


def evaluate(args):
    config = read_config(args.config)
    model, _ = build_model(config, args.weights)
    p = config["preprocess"]
    channels = p["channels"]
    images = read_idx(args.images)
    labels = read_idx(args.labels).astype(np.int64)
    if images.ndim != 3:
        fail(f"{args.images}: expected N x H x W grey images, received shape {list(images.shape)}")
    x = torch.from_numpy(images.copy()).float().div(255).unsqueeze(1).repeat(1, channels, 1, 1)
    mean = torch.tensor(per_channel(p["mean"], channels), dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(per_channel(p["std"], channels), dtype=torch.float32).view(1, -1, 1, 1)
    x = (x - mean) / std
    logits = logits_of(model, x)
    target = torch.from_numpy(labels)
    k = min(5, logits.shape[1])
    predictions = logits.argmax(1).numpy()
    top5 = (logits.topk(k, dim=1).indices == target[:, None]).any(1).float().mean().item()
    loss = F.cross_entropy(logits.double(), target, reduction="mean").item()

    classes = config["classes"]
    n = len(classes)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    diagonal = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = diagonal / matrix.sum(0)
        recall = diagonal / matrix.sum(1)
    none_if_nan = lambda v: None if math.isnan(v) else float(v)  # noqa: E731
    print(
        json.dumps(
            {
                "count": int(len(labels)),
                "loss": loss,
                "top1": float((predictions == labels).mean()),
                "top5": top5,
                "predictions": predictions.tolist(),
                "labels": labels.tolist(),
                "perClass": [
                    {
                        "name": classes[i],
                        "precision": none_if_nan(precision[i]),
                        "recall": none_if_nan(recall[i]),
                        "support": int(matrix[i].sum()),
                    }
                    for i in range(n)
                ],
                "confusion": matrix.tolist(),
            }
        )
    )


def predict(args):
    config = read_config(args.config)
    model, _ = build_model(config, args.weights)
    p = config["preprocess"]
    channels = p["channels"]
    height, width = p["size"]
    batch = []
    for image in args.images:
        picture = Image.open(image).convert("L" if channels == 1 else "RGB")
        if picture.size != (width, height):
            fail(
                f"{image}: expected an image of {width}x{height} (this oracle does not resize), received "
                f"{picture.size[0]}x{picture.size[1]}"
            )
        pixels = np.array(picture, dtype=np.float32).reshape(height, width, channels) / np.float32(255)
        pixels = (pixels - np.array(per_channel(p["mean"], channels))) / np.array(per_channel(p["std"], channels))
        batch.append(torch.from_numpy(pixels.transpose(2, 0, 1).copy()).float())
    probabilities = torch.softmax(logits_of(model, torch.stack(batch)).double(), dim=1)
    top = probabilities.topk(args.top, dim=1)
    classes = config["classes"]
    print(
        json.dumps(
            [
                {
                    "image": image,
                    "top": [
                        {"label": classes[j], "index": int(j), "probability": float(q)}
                        for q, j in zip(top.values[i].tolist(), top.indices[i].tolist(), strict=True)
                    ],
                }
                for i, image in enumerate(args.images)
            ]
        )
    )


def check_load(args):
    config = read_config(args.config)
    model, state = build_model(config, args.weights)
    print(
        json.dumps(
            {
                "keys": list(state.keys()),
                "modelKeys": list(model.state_dict().keys()),
                "dtypes": sorted({str(t.dtype) for t in state.values()}),
                "parameterCount": int(sum(t.numel() for t in state.values())),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("eval", "predict", "check-load"):
        sub = commands.add_parser(name)
        sub.add_argument("--config", required=True)
        sub.add_argument("--weights", required=True)
        if name == "eval":
            sub.add_argument("--images", required=True)
            sub.add_argument("--labels", required=True)
        if name == "predict":
            sub.add_argument("--top", type=int, default=5)
            sub.add_argument("images", nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"eval": evaluate, "predict": predict, "check-load": check_load}[args.command](args)


if __name__ == "__main__":
    main()
