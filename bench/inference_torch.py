"""The PyTorch contestants of bench/inference.ts, one per process. Prints one JSON line on stdout at the end.

  seed-eager  tools/reference_vit.py's VisionTransformer exactly as written, eval(), under torch.no_grad(): what
              the seed repository's users run.
  best-eager  the same module tree and weights in PyTorch's fastest eager form: attention through
              scaled_dot_product_attention, nn.GELU(approximate='tanh'), torch.inference_mode().
  gemm        the roofline: libtorch's fastest GEMM on one encoder block's four GEMMs with M = B*197 rows, the faster
              of torch.nn.functional.linear (MKL on the plain weight) and oneDNN on a weight prepacked into its blocked
              layout (mkldnn::_linear_pointwise, what vitorch's inference uses); both are reported. Nothing that runs
              ViT-B/16 on libtorch can be faster than its GEMMs.
  gemm --dtype int8
              the int8 roofline: the same four GEMMs through libtorch's oneDNN int8 kernel (onednn::qlinear_pointwise),
              uint8 activations by int8 weights per output channel, float32 output, the activations quantized before
              the clock starts: the int8 dot products alone, the ceiling of an int8 ViT-B/16 on libtorch.

    python bench/inference_torch.py --contestant seed-eager|best-eager|gemm --weights W.pth --batch B --threads T
        --warmup W --reps N --input FILE.f32 [--save-output FILE.f32] [--dtype float32|bfloat16|int8]
"""

import argparse
import json
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from reference_vit import Attention, Mlp, VisionTransformer  # noqa: E402

IMAGE_SHAPE = (3, 224, 224)
TOKENS = 197  # 14 * 14 patches + the class token
WIDTH = 768
# (in_features K, out_features N) of the linears in one ViT-B/16 block, each used once per block.
BLOCK_LINEARS = [(WIDTH, 3 * WIDTH), (WIDTH, WIDTH), (WIDTH, 4 * WIDTH), (4 * WIDTH, WIDTH)]
# Same model means same numbers up to float32 reassociation; 1e-4 of the largest logit leaves room for that and
# none for a different formula.
SAME_MODEL_TOLERANCE = 1e-4


def read_images(path, batch):
    values = np.fromfile(path, dtype="<f4")
    expected = batch * int(np.prod(IMAGE_SHAPE))
    if values.size != expected:
        raise SystemExit(f"{path} holds {values.size} floats, expected {expected} for batch {batch}")
    return torch.from_numpy(values.reshape(batch, *IMAGE_SHAPE))


def load_seed_model(weights):
    model = VisionTransformer()
    model.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    return model.eval()


def attention_through_sdpa(self, x):
    batch, tokens, channels = x.shape
    qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads).permute(2, 0, 3, 1, 4)
    # SDPA's default scale is head_dim^-0.5, the seed's; dropout is off in evaluation, as the seed's is.
    mixed = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    return self.proj(mixed.transpose(1, 2).reshape(batch, tokens, channels))


def make_best_eager(model):
    """Rewires the seed model in place. Only forward code changes: neither replacement holds parameters, so the
    state_dict, and therefore the model, stays the same."""
    for module in model.modules():
        if isinstance(module, Attention):
            module.forward = types.MethodType(attention_through_sdpa, module)
        elif isinstance(module, Mlp):
            module.act = nn.GELU(approximate="tanh")
    return model


def check_same_model(best, weights, images):
    # Two images cover the batched code paths at a fraction of a full seed forward.
    sample = images[:2]
    with torch.no_grad():
        expected = load_seed_model(weights)(sample)
    with torch.inference_mode():
        actual = best(sample)
    difference = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    if difference > SAME_MODEL_TOLERANCE * scale:
        raise SystemExit(f"best-eager differs from seed-eager by {difference:.3g} (max |logit| {scale:.3g})")


def time_iterations(step, warmup, reps):
    for _ in range(warmup):
        step()
    seconds = []
    result = None
    for _ in range(reps):
        started = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def run_model(args):
    images = read_images(args.input, args.batch)
    if args.contestant == "seed-eager":
        model = load_seed_model(args.weights)
        context = torch.no_grad
    else:
        model = make_best_eager(load_seed_model(args.weights))
        check_same_model(model, args.weights, images)
        context = torch.inference_mode
    with context():
        seconds, logits = time_iterations(lambda: model(images), args.warmup, args.reps)
    if args.save_output:
        logits.to(torch.float32).numpy().astype("<f4").tofile(args.save_output)
    return {"seconds": seconds}


def run_gemm(args):
    if args.dtype == "int8":
        return run_gemm_int8(args)
    dtype = getattr(torch, args.dtype)
    rows = args.batch * TOKENS
    generator = torch.Generator().manual_seed(0)

    def random_tensor(*shape):
        return torch.randn(*shape, generator=generator).to(dtype)

    activations = {k: random_tensor(rows, k) for k in {k for k, _ in BLOCK_LINEARS}}
    layers = [(random_tensor(n, k) * k ** -0.5, random_tensor(n)) for k, n in BLOCK_LINEARS]

    prepacked = [torch.ops.mkldnn._reorder_linear_weight(weight) for weight, _ in layers]

    def one_block_of_plain_linears():
        for (k, _), (weight, bias) in zip(BLOCK_LINEARS, layers, strict=True):
            F.linear(activations[k], weight, bias)

    def one_block_of_prepacked_linears():
        for (k, _), packed, (_, bias) in zip(BLOCK_LINEARS, prepacked, layers, strict=True):
            torch.ops.mkldnn._linear_pointwise(activations[k], packed, bias, "none", [], None)

    flop = sum(2 * rows * k * n for k, n in BLOCK_LINEARS)
    with torch.inference_mode():
        kernels = {
            "mkl-linear": time_iterations(one_block_of_plain_linears, args.warmup, args.reps)[0],
            "onednn-prepacked": time_iterations(one_block_of_prepacked_linears, args.warmup, args.reps)[0],
        }
    fastest = min(kernels, key=lambda name: statistics.median(kernels[name]))
    return {"seconds": kernels[fastest], "dtype": args.dtype, "rows": rows, "flop": flop,
            "flops": flop / statistics.median(kernels[fastest]), "kernel": fastest,
            "kernelFlops": {name: flop / statistics.median(seconds) for name, seconds in kernels.items()}}


def quantize_activations(values):
    """uint8 with one scale and a zero point of 128, as dynamic quantization makes of values centred on zero."""
    scale = values.abs().max().item() / 127
    return torch.clamp(torch.round(values / scale) + 128, 0, 255).to(torch.uint8), scale, 128


def quantize_weight(weight):
    """int8, symmetric, one scale per output channel; prepacked into oneDNN's layout once, as a model does."""
    scales = weight.abs().amax(dim=1) / 127
    values = torch.clamp(torch.round(weight / scales[:, None]), -127, 127).to(torch.int8)
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    return torch.ops.onednn.qlinear_prepack(values, None), scales.float(), zero_points


def run_gemm_int8(args):
    rows = args.batch * TOKENS
    generator = torch.Generator().manual_seed(0)
    widths = {k for k, _ in BLOCK_LINEARS}
    activations = {k: quantize_activations(torch.randn(rows, k, generator=generator)) for k in widths}
    layers = [
        (*quantize_weight(torch.randn(n, k, generator=generator) * k**-0.5), torch.randn(n, generator=generator))
        for k, n in BLOCK_LINEARS
    ]

    def one_block_of_linears():
        for (k, _), (packed, scales, zero_points, bias) in zip(BLOCK_LINEARS, layers, strict=True):
            values, scale, zero_point = activations[k]
            # Output scale 1 and zero point 0 with a float32 output: dequantized, not requantized.
            torch.ops.onednn.qlinear_pointwise(
                values, scale, zero_point, packed, scales, zero_points, bias, 1.0, 0, torch.float32, "none", [], ""
            )

    with torch.inference_mode():
        seconds, _ = time_iterations(one_block_of_linears, args.warmup, args.reps)
    # An int8 multiply-add counts 2 operations, as a float32 one counts 2 FLOP: the two rates compare directly.
    flop = sum(2 * rows * k * n for k, n in BLOCK_LINEARS)
    return {"seconds": seconds, "dtype": "int8", "rows": rows, "flop": flop, "flops": flop / statistics.median(seconds)}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--contestant", required=True, choices=["seed-eager", "best-eager", "gemm"])
    parser.add_argument("--weights", type=Path, help="ViT-B/16 state_dict (not used by gemm)")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, required=True)
    parser.add_argument("--input", type=Path, help="B*3*224*224 little-endian float32 values (not used by gemm)")
    parser.add_argument("--save-output", type=Path, help="write the last timed iteration's logits here, float32")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "int8"], help="gemm only")
    args = parser.parse_args(argv)
    # First, so that no torch work (not even weight loading) runs with the default thread count.
    torch.set_num_threads(args.threads)
    if args.contestant == "gemm":
        result = run_gemm(args)
    else:
        if args.weights is None or args.input is None:
            parser.error(f"{args.contestant} needs --weights and --input")
        result = run_model(args)
    print(json.dumps({"contestant": args.contestant, "batch": args.batch, "threads": torch.get_num_threads(),
                      "torchVersion": torch.__version__, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
