"""Small inputs for the `vitorch eval` / `vitorch predict` tests (test/cli-eval.test.ts), cut from the real
Fashion-MNIST files so that a 1-epoch training run and its evaluation take seconds.

    python tools/make_cli_fixtures.py --out test/fixtures/generated/cli [--train 512] [--val 1024] [--png 8]

Writes into OUT (replaced whole, through a temporary folder, so a concurrent run never sees half a set):
  train-images-idx3-ubyte, train-labels-idx1-ubyte   the first TRAIN training images and labels (uncompressed IDX)
  val-images-idx3-ubyte, val-labels-idx1-ubyte       the first VAL test images and labels
  images/test-NNNN.png                               the first PNG test images as 8-bit grey PNGs
  images/corrupt.png                                 a PNG signature and header cut short: decodes nowhere
  manifest.json                                      the files above and the PNGs' labels
Does nothing when OUT already holds a set made with the same arguments by this version.
The IDX files are written with numpy from an independent reading of the originals, not with vitorch.
"""

import gzip
import os
import sys

import numpy as np
from PIL import Image

from fixture_output import run

# Bumped whenever what this writes changes, so that an older set is made again.
GENERATOR_VERSION = 1
FASHION = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx(path):
    """(dims, uint8 data) of a gzipped IDX file: magic 0x0000 0x08 ndims, big-endian u32 sizes, then the bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        sys.exit(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    ndims = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndims, offset=4).astype(int).tolist()
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def write_idx(path, data):
    header = bytes([0, 0, 8, data.ndim]) + np.array(data.shape, dtype=">u4").tobytes()
    with open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def options(parser):
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=1024)
    parser.add_argument("--png", type=int, default=8)


def stamp(args):
    return {"generator": GENERATOR_VERSION, "counts": {"train": args.train, "val": args.val, "png": args.png}}


def generate(work, args):
    manifest = {
        "train": {"images": "train-images-idx3-ubyte", "labels": "train-labels-idx1-ubyte", "count": args.train},
        "val": {"images": "val-images-idx3-ubyte", "labels": "val-labels-idx1-ubyte", "count": args.val},
        "pngs": [],
        "corrupt": "images/corrupt.png",
    }
    train_images = read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))[: args.train]
    train_labels = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"))[: args.train]
    val_images = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))[: args.val]
    val_labels = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))[: args.val]

    write_idx(os.path.join(work, "train-images-idx3-ubyte"), train_images)
    write_idx(os.path.join(work, "train-labels-idx1-ubyte"), train_labels)
    write_idx(os.path.join(work, "val-images-idx3-ubyte"), val_images)
    write_idx(os.path.join(work, "val-labels-idx1-ubyte"), val_labels)
    os.makedirs(os.path.join(work, "images"))
    pngs = manifest["pngs"]
    for i in range(args.png):
        name = f"test-{i:04d}.png"
        Image.fromarray(val_images[i], mode="L").save(os.path.join(work, "images", name))
        pngs.append({"file": f"images/{name}", "index": i, "label": int(val_labels[i])})
    # A real PNG's first 40 bytes: the signature and IHDR survive, the image data does not.
    with open(os.path.join(work, "images", pngs[0]["file"].split("/")[-1]), "rb") as f:
        head = f.read(40)
    with open(os.path.join(work, "images", "corrupt.png"), "wb") as f:
        f.write(head)
    return manifest


if __name__ == "__main__":
    # Up to date: nothing to do, so test runs that start side by side do not replace the folder under each other.
    run("cli", generate, stamp=stamp, whole_folder=True, add_arguments=options, description=__doc__)
