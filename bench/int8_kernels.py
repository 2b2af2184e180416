"""Which of libtorch's int8 Linear kernels vitorch's model.quantize() should use, measured on ViT-B/16's four block
GEMMs (qkv, proj, fc1, fc2 with 197 rows per image): the dynamic ones PyTorch's quantize_dynamic runs
(quantized::linear_dynamic on each quantized engine: fbgemm, x86, onednn), and onednn::qlinear_pointwise (the int8
kernel of PyTorch's x86 Inductor quantization, on plain uint8/int8 tensors) with its input quantized per call as
vitorch does, and with the input already quantized (the kernel alone). float32 and bfloat16 linear beside them for
scale. Prints milliseconds per block (medians) for batch 1 and 8.

    python bench/int8_kernels.py [--threads 2] [--reps 20]
"""

import argparse
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

# (in_features, out_features) of one ViT-B/16 block's Linear layers.
BLOCK_LINEARS = [(768, 2304), (768, 768), (768, 3072), (3072, 768)]
TOKENS = 197


def median_ms(run, reps):
    for _ in range(3):
        run()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def quantize_input(x):
    """uint8 codes, scale and zero point from x's range widened to include 0, as dynamic quantization makes them."""
    low, high = torch.aminmax(x)
    low, high = min(low.item(), 0.0), max(high.item(), 0.0)
    scale = (high - low) / 255 or 1.0
    zero_point = int(min(max(round(-low / scale), 0), 255))
    return torch.quantize_per_tensor(x, scale, zero_point, torch.quint8).int_repr(), scale, zero_point


def kernels_for(in_features, out_features, generator):
    weight = torch.randn(out_features, in_features, generator=generator) * in_features**-0.5
    bias = torch.randn(out_features, generator=generator)
    scales = weight.abs().amax(1) / 127
    codes = torch.clamp(torch.round(weight / scales[:, None]), -127, 127).to(torch.int8)
    zero_points = torch.zeros(out_features, dtype=torch.long)
    quantized_weight = torch.quantize_per_channel(weight, scales.double(), zero_points, 0, torch.qint8)
    dynamic = {}
    for engine in ("fbgemm", "x86", "onednn"):
        torch.backends.quantized.engine = engine
        dynamic[engine] = torch.ops.quantized.linear_prepack(quantized_weight, bias)
    pointwise_weight = torch.ops.onednn.qlinear_prepack(codes, None)
    weight_bf16, bias_bf16 = weight.bfloat16(), bias.bfloat16()

    def pointwise(x_codes, x_scale, x_zero):
        return torch.ops.onednn.qlinear_pointwise(
            x_codes, x_scale, x_zero, pointwise_weight, scales, zero_points, bias, 1.0, 0, torch.float32, "none", [], ""
        )

    # Each takes the block input in float32, in bfloat16, and already quantized.
    return {
        "float32 linear": lambda x, xb, xq: F.linear(x, weight, bias),
        "bfloat16 linear": lambda x, xb, xq: F.linear(xb, weight_bf16, bias_bf16),
        "dynamic fbgemm": lambda x, xb, xq: torch.ops.quantized.linear_dynamic(x, dynamic["fbgemm"], True),
        "dynamic x86": lambda x, xb, xq: torch.ops.quantized.linear_dynamic(x, dynamic["x86"], True),
        "dynamic onednn": lambda x, xb, xq: torch.ops.quantized.linear_dynamic(x, dynamic["onednn"], False),
        "qlinear_pointwise, input quantized per call": lambda x, xb, xq: pointwise(*quantize_input(x)),
        "qlinear_pointwise alone": lambda x, xb, xq: pointwise(*xq),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*deprecated.*")
    generator = torch.Generator().manual_seed(0)
    layers = [kernels_for(k, n, generator) for k, n in BLOCK_LINEARS]
    print(f"torch {torch.__version__}, {args.threads} threads; ms per ViT-B/16 block (4 GEMMs), medians of {args.reps}")
    for batch in (1, 8):
        rows = batch * TOKENS
        totals = {}
        with torch.inference_mode():
            for (k, _), kernels in zip(BLOCK_LINEARS, layers, strict=True):
                x = torch.randn(rows, k, generator=generator)
                xb = x.bfloat16()
                quantized = quantize_input(x)
                for name, run in kernels.items():
                    ms = median_ms(lambda run=run, x=x, xb=xb, xq=quantized: run(x, xb, xq), args.reps)
                    totals[name] = totals.get(name, 0.0) + ms
        print(f"batch {batch} ({rows} rows):")
        for name, ms in totals.items():
            print(f"  {name:<45} {ms:7.2f} ms  {totals['float32 linear'] / ms:5.2f}x float32")


if __name__ == "__main__":
    main()
