"""Quantize tools/export_onnx.py's ViT-B/16 graph to int8, for bench/inference.ts's onnxruntime-int8 contestant.

onnxruntime's dynamic quantization (onnxruntime.quantization.quantize_dynamic) on the same graph the float32
onnxruntime contestant runs, with nothing changed before it (no onnxruntime pre-processing pass), so that the two
differ by the quantization alone:

  * weights QInt8 (signed), symmetric, per output channel (per_channel=True): one scale per column costs nothing
    at run time (onnxruntime's fused int8 MatMul takes a scale vector), and on the benchmark's 8 seeded images
    it brought the logits' lowest cosine against float32 from 0.99945 (per tensor) to 0.99962; the issue's
    "QInt8, same graph" leaves this open;
  * activations uint8, scale and zero point computed per tensor at run time (the only activation type dynamic
    quantization offers);
  * the op types onnxruntime quantizes by default: every MatMul with a constant weight (q/k/v, projection and
    MLP linears of the 12 blocks), the head (its Gemm becomes MatMul + Add) and the patch-embedding Conv; only
    attention's two activation-by-activation MatMuls stay float32;
  * reduce_range=False: the 7-bit range exists for x86 CPUs without VNNI, whose u8 x s8 instruction can saturate;
    CPUs with AVX-512 VNNI or AVX-VNNI do not, and on others the figures come with that caveat.

Does nothing when OUT is already newer than the float32 graph. Needs the Python onnxruntime package
(bench/requirements-int8.txt), only to quantize: the benchmark runs the result with onnxruntime-node.

    python tools/quantize_onnx.py --onnx model_data/vit-patch_16.onnx --out model_data/vit-patch_16-int8.onnx
"""

import argparse
import sys
from pathlib import Path

from export_onnx import is_up_to_date


def quantize(source, target):
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise SystemExit(
            "tools/quantize_onnx.py needs the Python onnxruntime package: pip install -r bench/requirements-int8.txt"
        ) from None
    # Written beside the target and renamed at the end, so an interrupted run never looks up to date.
    partial = target.with_name(target.name + ".partial")
    quantize_dynamic(source, partial, weight_type=QuantType.QInt8, per_channel=True, reduce_range=False)
    partial.replace(target)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True, help="the float32 graph tools/export_onnx.py wrote")
    parser.add_argument("--out", type=Path, required=True, help="the int8 .onnx file to write")
    args = parser.parse_args(argv)
    if is_up_to_date(args.out, args.onnx):
        print(f"{args.out} is newer than {args.onnx}; using it")
        return 0
    quantize(args.onnx, args.out)
    print(f"wrote {args.out} (dynamic int8: QInt8 weights per output channel, uint8 activations)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
