"""Quantize tools/export_onnx.py's ViT-B/16 graph to int8 with NNCF, for bench/inference.ts's openvino-int8 contestant.

Static post-training quantization, as OpenVINO's documentation does it for transformers: OpenVINO reads the ONNX
graph, nncf.quantize calibrates it and inserts FakeQuantize operations, OpenVINO's CPU plugin turns those into int8
kernels when it compiles the model.

  * model_type=TRANSFORMER: NNCF then quantizes the inputs of the MatMuls (the block linears and attention's two
    products) and leaves residual additions, LayerNorm and the element-wise arithmetic in floating point, and it
    is what enables SmoothQuant;
  * preset=MIXED: weights symmetric, activations asymmetric (activations after GELU are far from symmetric);
  * SmoothQuant on the MatMuls with NNCF's own alpha for them, 0.95 (set explicitly, so that a change of NNCF's
    default does not change the model silently): it moves activation outliers into the weights before scales are
    chosen;
  * calibration on CALIBRATION_IMAGES synthetic images, standard normal values from numpy's generator seeded with
    CALIBRATION_SEED: the same distribution as the benchmark's images (bench/bench-inputs.ts), other draws, so the
    model is not calibrated on the images it is then compared on. With real weights, real images would calibrate
    better; the benchmark's weights are seeded random ones, for which no image is more real than another.

The IR is written uncompressed (compress_to_fp16=False), so that the float32 constants NNCF leaves stay float32.
Does nothing when OUT (the .xml; its .bin beside it) is already newer than the ONNX graph. Needs openvino and nncf
(bench/requirements-int8.txt).

    python tools/quantize_openvino.py --onnx model_data/vit-patch_16.onnx --out model_data/openvino-int8.xml
        [--calibration-images 300]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from export_onnx import is_up_to_date

IMAGE_SHAPE = (1, 3, 224, 224)
CALIBRATION_IMAGES = 300
CALIBRATION_SEED = 18
SMOOTH_QUANT_MATMUL_ALPHA = 0.95


class SyntheticImages:
    """The calibration images, made one at a time (300 at once would be 180 MB of float32) and the same ones on
    every pass: NNCF iterates over its dataset once per algorithm (SmoothQuant, scales, bias correction)."""

    def __init__(self, count):
        self.count = count

    def __len__(self):
        return self.count

    def __iter__(self):
        generator = np.random.default_rng(CALIBRATION_SEED)
        for _ in range(self.count):
            yield generator.standard_normal(IMAGE_SHAPE, dtype=np.float32)


def quantize(source, target, calibration_images):
    try:
        import nncf
        import openvino as ov
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters
    except ImportError:
        raise SystemExit(
            "tools/quantize_openvino.py needs openvino and nncf: pip install -r bench/requirements-int8.txt"
        ) from None
    model = ov.Core().read_model(source)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(SyntheticImages(calibration_images)),
        model_type=nncf.ModelType.TRANSFORMER,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=calibration_images,
        advanced_parameters=AdvancedQuantizationParameters(
            smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_MATMUL_ALPHA)
        ),
    )
    # OpenVINO finds the weights beside the .xml by name, so both files are written under a partial name and
    # renamed, the .xml last: an interrupted run never leaves an .xml that looks up to date.
    partial = target.with_name(target.stem + ".partial.xml")
    ov.save_model(quantized, partial, compress_to_fp16=False)
    partial.with_suffix(".bin").replace(target.with_suffix(".bin"))
    partial.replace(target)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True, help="the float32 graph tools/export_onnx.py wrote")
    parser.add_argument("--out", type=Path, required=True, help="the OpenVINO IR .xml to write (and its .bin)")
    parser.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES)
    args = parser.parse_args(argv)
    if is_up_to_date(args.out, args.onnx) and args.out.with_suffix(".bin").exists():
        print(f"{args.out} is newer than {args.onnx}; using it")
        return 0
    quantize(args.onnx, args.out, args.calibration_images)
    print(f"wrote {args.out} and its .bin (NNCF int8, {args.calibration_images} seeded synthetic calibration images)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
