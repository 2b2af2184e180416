"""PyTorch's own dynamic int8 quantization of the reference ViT: the oracle for vitorch's model.quantize()
(test/int8.test.ts).

    python tools/int8_reference.py --options '{"numFeatures": 768, ...}' --weights W.pth --input IN.f32 \
        [--float32-out F.f32] [--int8-full-out Q8.f32] [--int8-reduced-out Q7.f32]

Builds reference_vit's model from vitorch's camelCase model options (from_options), loads W strictly, reads IN
(raw little-endian float32 images [N, inChans, H, W], N from the file's size) and writes the logits [N, numClasses]
asked for, in the same format. The images go through in batches of --batch-size (default: all in one forward);
the int8 models choose one input scale per batch, so a comparison has to batch alike:
  F   the float32 model;
  Q7  the model after torch.ao.quantization.quantize_dynamic restricted to the blocks' nn.Linear layers (attn.qkv,
      attn.proj, mlp.fc1, mlp.fc2) with per_channel_dynamic_qconfig: int8 weights, one symmetric scale per output
      channel; each call quantizes its input to uint8 with one scale and zero point for the whole tensor. Attention,
      GELU, LayerNorm, the patch embedding and the head stay float32, as in vitorch. These modules, as they are, ask
      their kernel for reduce_range=True: 7-bit input codes [0, 127], what vitorch's quantize() does on CPUs
      without VNNI;
  Q8  the same quantized modules, their kernel called on the same packed weights with reduce_range=False: 8-bit
      input codes [0, 255], what vitorch does on CPUs with VNNI (quantize_dynamic has no option for it). Only ask
      for it on such a CPU: without VNNI, FBGEMM's 8-bit products saturate as oneDNN's do, which is why the
      modules reduce the range.

The quantized engine is 'x86', PyTorch's default on x86 CPUs. Its dynamic Linear runs on FBGEMM, not oneDNN (no
oneDNN primitive runs under ONEDNN_VERBOSE=1), whereas vitorch multiplies with oneDNN's qlinear_pointwise: the
oracle shares no int8 GEMM code with what it checks, and ONEDNN_MAX_CPU_ISA (which the tests set to emulate a CPU
without VNNI) does not change it. The 'onednn' engine would give the same figures here through oneDNN itself.

torch.ao.quantization and quantized tensors are deprecated in PyTorch 2.15; quantize_dynamic still builds on them
and warns when called. Those two warnings are silenced (and only those) so that the tests can require an empty
stderr.
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

from reference_vit import from_options

# The nn.Linear layers of each block that vitorch's quantize() computes in int8; the head is not among them.
BLOCK_LINEARS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")

QUANTIZED_ENGINE = "x86"


def silence_quantization_deprecations():
    """torch.ao.quantization's DeprecationWarning and the UserWarning of quantized tensor creation, nothing else."""
    warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
    warnings.filterwarnings(
        "ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel", category=UserWarning
    )


def build_reference(options, weights):
    model = from_options(options).eval()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    return model


def quantize_block_linears(model, full_range):
    """A copy of MODEL whose block Linear layers are quantize_dynamic's int8 modules, with 8-bit inputs when
    FULL_RANGE (else their own 7-bit ones); MODEL stays float32."""
    torch.backends.quantized.engine = QUANTIZED_ENGINE
    names = [f"blocks.{index}.{linear}" for index in range(len(model.blocks)) for linear in BLOCK_LINEARS]
    quantized = quantize_dynamic(model, dict.fromkeys(names, per_channel_dynamic_qconfig), inplace=False)

    swapped = [name for name, module in quantized.named_modules() if isinstance(module, DynamicQuantizedLinear)]
    if swapped != names:
        raise RuntimeError(f"quantize_dynamic swapped {swapped}, expected exactly {names}")
    if full_range:
        for name in names:
            layer = quantized.get_submodule(name)
            # The module's forward hard-codes reduce_range=True; the kernel underneath takes either.
            layer.forward = lambda x, layer=layer: torch.ops.quantized.linear_dynamic(
                x, layer._packed_params._packed_params, reduce_range=False
            )
    return quantized


def read_images(path, options):
    channels = options.get("inChans", 3)
    height, width = options.get("inputShape", [224, 224])
    values = np.fromfile(path, dtype="<f4")
    per_image = channels * height * width
    if values.size == 0 or values.size % per_image:
        raise SystemExit(
            f"int8_reference: {path} holds {values.size} floats, not a whole number of images of {per_image}"
        )
    return torch.from_numpy(values.astype(np.float32)).reshape(-1, channels, height, width)


def write_logits(path, logits):
    logits.detach().to(torch.float32).contiguous().numpy().astype("<f4", copy=False).tofile(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", required=True, help="vitorch's model options, camelCase JSON")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--float32-out")
    parser.add_argument("--int8-full-out", help="int8 with 8-bit inputs")
    parser.add_argument("--int8-reduced-out", help="int8 with 7-bit inputs (quantize_dynamic's own)")
    parser.add_argument("--batch-size", type=int, help="images per forward (default: all in one)")
    args = parser.parse_args()
    if not (args.float32_out or args.int8_full_out or args.int8_reduced_out):
        parser.error("nothing to write: give --float32-out, --int8-full-out and/or --int8-reduced-out")
    silence_quantization_deprecations()

    options = json.loads(args.options)
    model = build_reference(options, args.weights)
    images = read_images(args.input, options)
    batches = images.split(args.batch_size or len(images))
    with torch.no_grad():
        if args.float32_out:
            write_logits(Path(args.float32_out), torch.cat([model(batch) for batch in batches]))
        for out, full_range in ((args.int8_full_out, True), (args.int8_reduced_out, False)):
            if out:
                quantized = quantize_block_linears(model, full_range)
                write_logits(Path(out), torch.cat([quantized(batch) for batch in batches]))


if __name__ == "__main__":
    main()
