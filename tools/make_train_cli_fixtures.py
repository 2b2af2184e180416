"""Make the files of the `vitorch train` tests (test/train-*.test.ts): small IDX subsets of the real
Fashion-MNIST files, broken copies of them, PNG images with the seed's annotation files (good and bad),
and a PyTorch reference for gradient accumulation. Described by DIR/manifest.json.

    python tools/make_train_cli_fixtures.py --out test/fixtures/generated/train-cli [--force]

The run does nothing when DIR/manifest.json is up to date (same generator version and torch), unless --force.
FASHION_MNIST_DIR overrides /usr/share/datasets/fashion-mnist.
"""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fixture_output import run
from make_training_fixtures import CONFIG as TRAINING_CONFIG
from random_weights import randomize_parameters
from reference_vit import from_options

GENERATOR_VERSION = 1
FASHION = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
TRAIN_COUNT = 256
VAL_COUNT = 64
PNG_COUNT = 12

# The gradient-accumulation reference: a tiny model, dropout off, SGD with momentum and weight decay; two updates,
# each over two half batches of HALF images whose losses are averaged (loss / 2 before backward, as the native step
# does), and the same two updates on the whole batches (one backward each) for comparison.
ACCUM_CONFIG = {**TRAINING_CONFIG, "numFeatures": 16, "depth": 1, "numHeads": 2}
HALF = 8
UPDATES = 2
SGD = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
LABEL_SMOOTHING = 0.1
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = struct.unpack(">" + "I" * ndims, data[4 : 4 + 4 * ndims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path, array):
    path.write_bytes(idx_bytes(array))


def make_idx(out, manifest):
    train_images = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:TRAIN_COUNT]
    train_labels = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:TRAIN_COUNT]
    val_images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")[:VAL_COUNT]
    val_labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")[:VAL_COUNT]
    write_idx(out / "train-images-idx3-ubyte", train_images)
    write_idx(out / "train-labels-idx1-ubyte", train_labels)
    write_idx(out / "val-images-idx3-ubyte", val_images)
    write_idx(out / "val-labels-idx1-ubyte", val_labels)
    bad = out / "bad"
    bad.mkdir(exist_ok=True)
    full = idx_bytes(train_images)
    # The header promises TRAIN_COUNT images; the data stops 100 bytes short.
    (bad / "truncated-images-idx3-ubyte").write_bytes(full[:-100])
    # A gzip stream cut in half.
    compressed = gzip.compress(full, mtime=0)
    (bad / "truncated-images-idx3-ubyte.gz").write_bytes(compressed[: len(compressed) // 2])
    (bad / "not-idx-images").write_bytes(b"P5 28 28 255\n" + bytes(64))
    labels = train_labels.copy()
    labels[17] = 10
    write_idx(bad / "out-of-range-labels-idx1-ubyte", labels)
    manifest["idx"] = {
        "trainImages": "train-images-idx3-ubyte",
        "trainLabels": "train-labels-idx1-ubyte",
        "valImages": "val-images-idx3-ubyte",
        "valLabels": "val-labels-idx1-ubyte",
        "train": TRAIN_COUNT,
        "val": VAL_COUNT,
        "truncated": {
            "file": "bad/truncated-images-idx3-ubyte",
            "expected": TRAIN_COUNT * 28 * 28,
            "received": TRAIN_COUNT * 28 * 28 - 100,
        },
        "truncatedGzip": "bad/truncated-images-idx3-ubyte.gz",
        "notIdx": "bad/not-idx-images",
        "outOfRange": {"file": "bad/out-of-range-labels-idx1-ubyte", "sample": 17, "label": 10},
    }


def make_images(out, manifest):
    images = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:PNG_COUNT]
    labels = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:PNG_COUNT]
    png = out / "png"
    png.mkdir(exist_ok=True)
    lines = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"png/{i:03d}.png"
        Image.fromarray(image, mode="L").save(out / name)
        lines.append(f"{int(label)};{(out / name).resolve()}")
    good = "\n".join(lines) + "\n"
    (out / "annotations-good.txt").write_text(good)
    # A PNG signature followed by garbage: sharp cannot decode it.
    (png / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    bad_line = list(lines)
    bad_line[2] = "7 " + lines[2].split(";", 1)[1]
    (out / "annotations-bad-line.txt").write_text("\n".join(bad_line) + "\n")
    out_of_range = list(lines)
    out_of_range[3] = "12;" + lines[3].split(";", 1)[1]
    (out / "annotations-out-of-range.txt").write_text("\n".join(out_of_range) + "\n")
    corrupt = list(lines)
    corrupt[4] = f"{int(labels[4])};{(png / 'corrupt.png').resolve()}"
    (out / "annotations-corrupt-png.txt").write_text("\n".join(corrupt) + "\n")
    missing = list(lines)
    missing[5] = f"{int(labels[5])};{(png / 'missing.png').resolve()}"
    (out / "annotations-missing-png.txt").write_text("\n".join(missing) + "\n")
    manifest["annotations"] = {
        "good": "annotations-good.txt",
        "count": PNG_COUNT,
        "badLine": {"file": "annotations-bad-line.txt", "line": 3},
        "outOfRange": {"file": "annotations-out-of-range.txt", "line": 4, "label": 12},
        "corruptPng": {"file": "annotations-corrupt-png.txt", "line": 5, "image": "png/corrupt.png"},
        "missingPng": {"file": "annotations-missing-png.txt", "line": 6, "image": "png/missing.png"},
    }


def build_accum_model():
    return randomize_parameters(from_options(ACCUM_CONFIG), 777).train()


def train_reference(images, labels, halves):
    model = build_accum_model()
    optimizer = torch.optim.SGD(model.parameters(), **SGD)
    for u in range(UPDATES):
        optimizer.zero_grad(set_to_none=True)
        x = images[u * 2 * HALF : (u + 1) * 2 * HALF]
        y = labels[u * 2 * HALF : (u + 1) * 2 * HALF]
        parts = [(x[:HALF], y[:HALF]), (x[HALF:], y[HALF:])] if halves else [(x, y)]
        for xp, yp in parts:
            loss = torch.nn.functional.cross_entropy(model(xp), yp, label_smoothing=LABEL_SMOOTHING)
            (loss / len(parts)).backward()
        optimizer.step()
    return model


def make_accumulation(out, manifest):
    count = UPDATES * 2 * HALF
    raw = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:count]
    images = ((torch.from_numpy(raw.astype(np.float32)) / 255 - MEAN) / STD).unsqueeze(1).contiguous()
    labels = torch.from_numpy(read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:count].astype(np.int64))
    images.numpy().astype("<f4").tofile(out / "accum-images.f32")
    labels.numpy().astype("<i4").tofile(out / "accum-labels.i32")
    torch.save(build_accum_model().state_dict(), out / "accum-initial.pth")
    torch.save(train_reference(images, labels, halves=True).state_dict(), out / "accum-halves.pth")
    torch.save(train_reference(images, labels, halves=False).state_dict(), out / "accum-whole.pth")
    manifest["accumulation"] = {
        "config": ACCUM_CONFIG,
        "half": HALF,
        "updates": UPDATES,
        "sgd": SGD,
        "labelSmoothing": LABEL_SMOOTHING,
        "images": "accum-images.f32",
        "labels": "accum-labels.i32",
        "initial": "accum-initial.pth",
        "halves": "accum-halves.pth",
        "whole": "accum-whole.pth",
    }


def generate(out, args):
    torch.manual_seed(0)
    manifest = {}
    make_idx(out, manifest)
    make_images(out, manifest)
    make_accumulation(out, manifest)
    return manifest


if __name__ == "__main__":
    run("train-cli", generate, stamp={"generator": GENERATOR_VERSION, "torch": torch.__version__})
