"""Reference outputs for test/data-autoaugment.test.ts: the seed's AutoAugment ImageNet policy done with PIL.

    python tools/make_autoaugment_fixtures.py --out test/fixtures/generated/autoaugment

The seed (bubbliiiing/classification-pytorch, utils/utils_aug.py) builds each operation from PIL: ImageOps for the
point operations, ImageEnhance for colour, contrast and sharpness (factor 1 +/- magnitude), Image.rotate (nearest,
composited on grey 128) and Image.transform (affine, bicubic, grey 128 fill, the raw shear coefficient). Its
magnitudes are numpy linspaces over 10 bins, its 25 sub-policies pairs of (probability, operation, bin). This script
restates those facts in its own code and lets PIL compute the pixels; grey images go through convert('RGB') first,
as the seed's cvtColor does, and the result must come back with three equal channels (one is stored).

Writes into OUT (replaced whole, via a temporary folder):
  manifest.json       the images, the policy table as numpy computes its magnitudes, and every case below
  inputs/*.u8         the input images, HWC bytes
  <image>.ops.u8      every operation at every magnitude bin and both signs, and rotations by other angles, outputs
                      one after another
  <image>.policy.u8   every sub-policy under each of the four apply/skip combinations, with given signs
"""

import gzip
import os

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from fixture_output import run

FASHION = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
GREY = (128, 128, 128)

# Magnitude bins, as the seed's SubPolicy defines them (np.linspace over 10 bins; posterize rounded to int).
BINS = {
    "shearX": np.linspace(0, 0.3, 10),
    "rotate": np.linspace(0, 30, 10),
    "color": np.linspace(0.0, 0.9, 10),
    "posterize": np.round(np.linspace(8, 4, 10), 0).astype(int),
    "solarize": np.linspace(256, 0, 10),
    "contrast": np.linspace(0.0, 0.9, 10),
    "sharpness": np.linspace(0.0, 0.9, 10),
    "autocontrast": [0] * 10,
    "equalize": [0] * 10,
    "invert": [0] * 10,
}
EXTRA_ROTATIONS = [90, 180, 270, -90, 45, -137.5, 360]
# Operations whose magnitude gets a random sign when they run.
SIGNED = {"shearX", "rotate", "color", "contrast", "sharpness"}

# The seed's ImageNetPolicy: (p1, op1, bin1, p2, op2, bin2), 25 entries (some repeat, so they weigh double).
POLICY = [
    (0.4, "posterize", 8, 0.6, "rotate", 9),
    (0.6, "solarize", 5, 0.6, "autocontrast", 5),
    (0.8, "equalize", 8, 0.6, "equalize", 3),
    (0.6, "posterize", 7, 0.6, "posterize", 6),
    (0.4, "equalize", 7, 0.2, "solarize", 4),
    (0.4, "equalize", 4, 0.8, "rotate", 8),
    (0.6, "solarize", 3, 0.6, "equalize", 7),
    (0.8, "posterize", 5, 1.0, "equalize", 2),
    (0.2, "rotate", 3, 0.6, "solarize", 8),
    (0.6, "equalize", 8, 0.4, "posterize", 6),
    (0.8, "rotate", 8, 0.4, "color", 0),
    (0.4, "rotate", 9, 0.6, "equalize", 2),
    (0.0, "equalize", 7, 0.8, "equalize", 8),
    (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.6, "color", 4, 1.0, "contrast", 8),
    (0.8, "rotate", 8, 1.0, "color", 2),
    (0.8, "color", 8, 0.8, "solarize", 7),
    (0.4, "sharpness", 7, 0.6, "invert", 8),
    (0.6, "shearX", 5, 1.0, "equalize", 9),
    (0.4, "color", 0, 0.6, "equalize", 3),
    (0.4, "equalize", 7, 0.2, "solarize", 4),
    (0.6, "solarize", 5, 0.6, "autocontrast", 5),
    (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.6, "color", 4, 1.0, "contrast", 8),
    (0.8, "equalize", 8, 0.6, "equalize", 3),
]


def rotate_on_grey(image, degrees):
    # Rotated as RGBA (nearest, the default), so the alpha band marks where the source was, then laid over grey.
    rgba = image.convert("RGBA").rotate(degrees)
    return Image.composite(rgba, Image.new("RGBA", rgba.size, (128,) * 4), rgba).convert(image.mode)


def apply_op(image, op, magnitude, sign):
    """One of the seed's operations; `sign` (+1 or -1) is used only by the signed ones."""
    if op == "posterize":
        return ImageOps.posterize(image, int(magnitude))
    if op == "solarize":
        return ImageOps.solarize(image, magnitude)
    if op == "autocontrast":
        return ImageOps.autocontrast(image)
    if op == "equalize":
        return ImageOps.equalize(image)
    if op == "invert":
        return ImageOps.invert(image)
    if op == "rotate":
        return rotate_on_grey(image, magnitude * sign)
    if op == "shearX":
        return image.transform(
            image.size, Image.AFFINE, (1, magnitude * sign, 0, 0, 1, 0), Image.BICUBIC, fillcolor=GREY
        )
    enhancer = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast, "sharpness": ImageEnhance.Sharpness}[op]
    return enhancer(image).enhance(1 + magnitude * sign)


def to_bytes(image, channels, where):
    """HWC bytes of an RGB result; for a grey input, its single channel after checking all three agree."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if channels == 3:
        return array.tobytes()
    if not (np.array_equal(array[:, :, 0], array[:, :, 1]) and np.array_equal(array[:, :, 0], array[:, :, 2])):
        raise AssertionError(f"{where}: a grey image came back with unequal channels")
    return np.ascontiguousarray(array[:, :, 0]).tobytes()


def fashion_images(indices):
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    n, h, w = np.frombuffer(raw, dtype=">u4", count=3, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w)
    return {f"fashion-{i}": data[i] for i in indices}


def synthetic_images():
    """Deterministic RGB content: gradients, a hard edge and noise (every op has something to change), a low-contrast
    image (autocontrast and equalize stretch it), a constant one (their degenerate cases) and a 2x2 one (too small for
    the 3x3 smoothing kernel)."""
    rng = np.random.RandomState(8)
    out = {}
    for name, (w, h) in {"rgb-37x29": (37, 29), "rgb-64x48": (64, 48)}.items():
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = x * 255 / (w - 1)
        g = 255 - y * 255 / (h - 1)
        b = np.where(x + 2 * y > w, 220.0, 30.0)
        noise = rng.normal(0, 12, (h, w, 3))
        out[name] = (np.stack([r, g, b], -1) + noise).round().clip(0, 255).astype(np.uint8)
    out["rgb-low-contrast-20x16"] = rng.randint(90, 141, (16, 20, 3)).astype(np.uint8)
    out["rgb-constant-9x7"] = np.full((7, 9, 3), 77, np.uint8)
    out["rgb-2x2"] = np.array([[[0, 100, 255], [40, 200, 10]], [[255, 255, 0], [7, 7, 7]]], np.uint8)
    return out


def generate(work, args):
    os.makedirs(os.path.join(work, "inputs"))
    arrays = {**fashion_images([0, 1, 2, 19]), **synthetic_images()}
    signs = np.random.RandomState(25)
    images, ops, policies = [], [], []
    for name, array in arrays.items():
        channels = 1 if array.ndim == 2 else 3
        h, w = array.shape[:2]
        array.tofile(os.path.join(work, "inputs", name + ".u8"))
        images.append({"name": name, "input": f"inputs/{name}.u8", "width": w, "height": h, "channels": channels})
        image = Image.fromarray(array).convert("RGB")

        chunks, offset = [], 0
        for op, bins in BINS.items():
            for index in range(10):
                for sign in (1, -1) if op in SIGNED else (1,):
                    data = to_bytes(apply_op(image, op, bins[index], sign), channels, f"{name} {op}[{index}]")
                    ops.append(
                        {
                            "image": name,
                            "op": op,
                            "index": index,
                            "magnitude": float(bins[index]),
                            "sign": sign,
                            "offset": offset,
                        }
                    )
                    chunks.append(data)
                    offset += len(data)
        # Angles outside the policy's bins, for PIL's shortcuts (quarter and half turns) and its general path.
        for degrees in EXTRA_ROTATIONS:
            data = to_bytes(rotate_on_grey(image, degrees), channels, f"{name} rotate {degrees}")
            ops.append(
                {"image": name, "op": "rotate", "index": None, "magnitude": degrees, "sign": 1, "offset": offset}
            )
            chunks.append(data)
            offset += len(data)
        with open(os.path.join(work, f"{name}.ops.u8"), "wb") as f:
            f.write(b"".join(chunks))

        chunks, offset = [], 0
        for number, (_p1, op1, bin1, _p2, op2, bin2) in enumerate(POLICY):
            for apply in ((False, False), (True, False), (False, True), (True, True)):
                sign = [int(signs.choice([-1, 1])), int(signs.choice([-1, 1]))]
                result = image
                if apply[0]:
                    result = apply_op(result, op1, BINS[op1][bin1], sign[0])
                if apply[1]:
                    result = apply_op(result, op2, BINS[op2][bin2], sign[1])
                data = to_bytes(result, channels, f"{name} sub-policy {number}")
                policies.append({"image": name, "policy": number, "apply": list(apply), "sign": sign, "offset": offset})
                chunks.append(data)
                offset += len(data)
        with open(os.path.join(work, f"{name}.policy.u8"), "wb") as f:
            f.write(b"".join(chunks))

    table = [
        {
            "p": [p1, p2],
            "op": [op1, op2],
            "index": [bin1, bin2],
            "magnitude": [float(BINS[op1][bin1]), float(BINS[op2][bin2])],
            "signed": [op1 in SIGNED, op2 in SIGNED],
        }
        for (p1, op1, bin1, p2, op2, bin2) in POLICY
    ]
    manifest = {
        "versions": {"numpy": np.__version__, "PIL": Image.__version__},
        "images": images,
        "policy": table,
        "ops": ops,
        "subPolicies": policies,
    }
    return manifest


if __name__ == "__main__":
    run("autoaugment", generate, whole_folder=True)
