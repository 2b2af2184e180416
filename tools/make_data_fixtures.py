"""Reference outputs for the data layer's tests (test/data-*.test.ts), computed with numpy, PIL and torchvision.

    python tools/make_data_fixtures.py --out test/fixtures/generated/data

Writes into OUT (replaced whole, via a temporary folder, so concurrent runs cannot leave half a fixture set):
  manifest.json                 what every other file holds, and the expected values of the IDX files
  *-ubyte                       an uncompressed copy of the Fashion-MNIST test labels, for the non-gzip path
  t10k-norm-first128.f32        the first 128 test images as torchvision's ToTensor + Normalize(mean, std) give them
  t10k-pad4-first16.u8          the first 16 test images zero-padded by 4 (numpy.pad), for the random-crop test
  images/*                      generated images (PNG, JPEG), and the seed's preprocessing of each (*.f32, CHW),
                                reimplemented here from the seed's utils with PIL, not taken from vitorch
  rrc.json                      torchvision RandomResizedCrop.get_params statistics and fallback boxes
"""

import gzip
import hashlib
import math
import os

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from fixture_output import run

FASHION = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def read_idx_numpy(path):
    """An independent IDX reader: numpy's big-endian dtype for the header, frombuffer for the data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndims = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndims, offset=4).astype(int).tolist()
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)
    return raw, dims, data


def smooth_rgb(width, height, seed):
    """Smooth content (gradients and low-frequency waves): resampling kernels agree closely on it."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    fx, fy, phase = rng.uniform(8, 20), rng.uniform(8, 20), rng.uniform(0, 6)
    r = x * 255 / max(width - 1, 1)
    g = y * 255 / max(height - 1, 1)
    b = (np.sin(x / fx + phase) * np.cos(y / fy) * 0.5 + 0.5) * 255
    return np.stack([r, g, b], -1).round().clip(0, 255).astype(np.uint8)


# The seed's evaluation preprocessing, rewritten from its description: utils_aug.resize (shorter side to S with
# int() truncation, untouched when already S, BILINEAR), center_crop (offset int(round(...))), letterbox (BICUBIC,
# grey 128 borders at // offsets), preprocess_input (x / 255 in float32, then float64 mean/std).
def seed_center_crop(image, target):
    th, tw = target
    w, h = image.size
    if th != tw:
        return image.resize((tw, th), Image.BILINEAR)
    s = th
    if not ((w <= h and w == s) or (h <= w and h == s)):
        image = image.resize((s, int(s * h / w)) if w < h else (int(s * w / h), s), Image.BILINEAR)
    w, h = image.size
    top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
    return image.crop((left, top, left + s, top + s))


def seed_letterbox(image, target):
    th, tw = target
    iw, ih = image.size
    scale = min(tw / iw, th / ih)
    nw, nh = int(iw * scale), int(ih * scale)
    image = image.resize((nw, nh), Image.BICUBIC)
    canvas = Image.new(image.mode, (tw, th), (128,) * len(image.getbands()) if len(image.getbands()) > 1 else 128)
    canvas.paste(image, ((tw - nw) // 2, (th - nh) // 2))
    return canvas


def seed_normalise(image, mean, std):
    x = np.array(image).astype(np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    x /= 255
    x = (x - mean) / std
    return np.ascontiguousarray(np.transpose(x, (2, 0, 1)).astype(np.float32))


def make_images(out):
    folder = os.path.join(out, "images")
    os.makedirs(folder)
    sources = {
        "rgb-300x200.png": (smooth_rgb(300, 200, 1), "png"),
        "rgb-300x200.jpg": (smooth_rgb(300, 200, 1), "jpg"),
        "rgb-40x60.png": (smooth_rgb(40, 60, 2), "png"),
        "grey-224x231.png": (smooth_rgb(224, 231, 3)[:, :, 2], "png"),
        "rgb-229x224.png": (smooth_rgb(229, 224, 4), "png"),
        "rgb-64x30.png": (smooth_rgb(64, 30, 5), "png"),
        "rgba-150x100.png": (
            np.concatenate([smooth_rgb(150, 100, 6), np.full((100, 150, 1), 77, np.uint8)], -1),
            "png",
        ),
    }
    for name, (array, kind) in sources.items():
        image = Image.fromarray(array)
        path = os.path.join(folder, name)
        if kind == "jpg":
            image.save(path, quality=95)
        else:
            image.save(path)
    # Broken files: a JPEG cut short, and a JPEG start marker followed by garbage.
    with open(os.path.join(folder, "rgb-300x200.jpg"), "rb") as f:
        jpeg = f.read()
    with open(os.path.join(folder, "truncated.jpg"), "wb") as f:
        f.write(jpeg[: len(jpeg) * 2 // 5])
    with open(os.path.join(folder, "garbage.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)

    cases = [
        # name, source, size, resize, channels, exact (no resampling involved: must match to float32 rounding)
        ("downscale-png", "rgb-300x200.png", [64, 64], "center-crop", 3, False),
        ("downscale-jpeg", "rgb-300x200.jpg", [64, 64], "center-crop", 3, False),
        ("upscale", "rgb-40x60.png", [64, 64], "center-crop", 3, False),
        ("crop-only-grey-odd-rows", "grey-224x231.png", [224, 224], "center-crop", 3, True),
        ("crop-only-odd-columns", "rgb-229x224.png", [224, 224], "center-crop", 3, True),
        ("non-square-target", "rgb-300x200.png", [48, 64], "center-crop", 3, False),
        ("letterbox", "rgb-300x200.png", [64, 64], "letterbox", 3, False),
        ("letterbox-no-resize", "rgb-64x30.png", [64, 64], "letterbox", 3, True),
        ("rgba-drops-alpha", "rgba-150x100.png", [64, 64], "center-crop", 3, False),
        ("grey-output", "rgb-300x200.png", [64, 64], "center-crop", 1, False),
        ("grey-output-crop-only", "grey-224x231.png", [224, 224], "center-crop", 1, True),
    ]
    manifest = []
    for name, source, size, resize, channels, exact in cases:
        image = Image.open(os.path.join(folder, source))
        image = image.convert("RGB") if channels == 3 else image.convert("L")
        image = seed_center_crop(image, size) if resize == "center-crop" else seed_letterbox(image, size)
        mean = IMAGENET_MEAN if channels == 3 else IMAGENET_MEAN[:1]
        std = IMAGENET_STD if channels == 3 else IMAGENET_STD[:1]
        expected = seed_normalise(image, mean, std)
        expected.tofile(os.path.join(folder, name + ".f32"))
        manifest.append(
            {
                "name": name,
                "source": "images/" + source,
                "size": size,
                "resize": resize,
                "channels": channels,
                "exact": exact,
                "expected": "images/" + name + ".f32",
                "shape": list(expected.shape),
            }
        )
    return manifest


def make_rrc(out):
    torch.manual_seed(0)
    width, height, samples = 300, 200, 20000
    image = Image.new("RGB", (width, height))
    area, log_ratio, top_frac, left_frac = [], [], [], []
    for _ in range(samples):
        i, j, h, w = transforms.RandomResizedCrop.get_params(image, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
        area.append(h * w / (width * height))
        log_ratio.append(math.log(w / h))
        top_frac.append(i / max(height - h, 1) if height > h else 0.5)
        left_frac.append(j / max(width - w, 1) if width > w else 0.5)

    def stats(v):
        return {"mean": float(np.mean(v)), "std": float(np.std(v))}

    fallback = []
    # No sampled box fits these (its short side is always over 10 px), so torchvision's fallback decides,
    # deterministically.
    for w, h in [(1000, 10), (10, 1000)]:
        img = Image.new("L", (w, h))
        i, j, bh, bw = transforms.RandomResizedCrop.get_params(img, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
        fallback.append({"width": w, "height": h, "box": {"top": i, "left": j, "height": bh, "width": bw}})
    return {
        "width": width,
        "height": height,
        "samples": samples,
        "area": stats(area),
        "logRatio": stats(log_ratio),
        "topFraction": stats(top_frac),
        "leftFraction": stats(left_frac),
        "fallback": fallback,
    }


def generate(work, args):
    idx = {}
    for name in FILES:
        path = os.path.join(FASHION, name)
        raw, dims, data = read_idx_numpy(path)
        entry = {
            "path": path,
            "dims": dims,
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
            "sum": int(data.astype(np.int64).sum()),
            "first": data.reshape(-1)[:64].tolist(),
            "last": data.reshape(-1)[-64:].tolist(),
        }
        if len(dims) == 1:
            entry["counts"] = np.bincount(data, minlength=10).tolist()
        idx[name] = entry
    _, _, labels = read_idx_numpy(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        raw_labels = f.read()
    with open(os.path.join(work, "t10k-labels-idx1-ubyte"), "wb") as f:
        f.write(raw_labels)

    _, _, images = read_idx_numpy(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))
    normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize((FASHION_MEAN,), (FASHION_STD,))])
    batch = torch.stack([normalize(Image.fromarray(images[i])) for i in range(128)])
    batch.numpy().astype(np.float32).tofile(os.path.join(work, "t10k-norm-first128.f32"))
    np.pad(images[:16], ((0, 0), (4, 4), (4, 4))).astype(np.uint8).tofile(os.path.join(work, "t10k-pad4-first16.u8"))

    manifest = {
        "versions": {
            "numpy": np.__version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "PIL": Image.__version__,
        },
        "idx": idx,
        "uncompressedLabels": "t10k-labels-idx1-ubyte",
        "normalised": {"file": "t10k-norm-first128.f32", "count": 128, "mean": FASHION_MEAN, "std": FASHION_STD},
        "padded": {"file": "t10k-pad4-first16.u8", "count": 16, "padding": 4},
        "images": make_images(work),
        "rrc": make_rrc(work),
    }
    return manifest


if __name__ == "__main__":
    run("data", generate, whole_folder=True)
