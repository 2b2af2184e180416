"""Export the seed ViT-B/16 with a checkpoint's weights to ONNX, for bench/inference.ts's onnxruntime contestant.

The graph is the reference model traced as written (its own GELU formula and attention), so onnxruntime runs the
same arithmetic as the other contestants; its graph optimizer is free to fuse what it recognizes. The batch axis is
dynamic so one file serves every batch size. Does nothing when OUT is already newer than WEIGHTS.

    python tools/export_onnx.py --weights model_data/vit-patch_16.pth --out model_data/vit-patch_16.onnx [--opset 17]
"""

import argparse
import sys
from pathlib import Path

import torch

from reference_vit import VisionTransformer

IMAGE_SIDE = 224


def is_up_to_date(target, source):
    return target.exists() and target.stat().st_mtime > source.stat().st_mtime


def export(weights, target, opset):
    model = VisionTransformer()
    model.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    model.eval()
    example = torch.zeros(1, 3, IMAGE_SIDE, IMAGE_SIDE)
    # Written beside the target and renamed at the end, so an interrupted export never looks up to date.
    partial = target.with_name(target.name + ".partial")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(partial),
            opset_version=opset,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
            # The TorchScript-based exporter: torch 2.9 made the torch.export-based one the default, which needs
            # onnxscript; this one writes the same graph as the earlier benchmark figures were measured with.
            dynamo=False,
        )
    partial.replace(target)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="torch.save'd ViT-B/16 state_dict (1000 classes)")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    if is_up_to_date(args.out, args.weights):
        print(f"{args.out} is newer than {args.weights}; using it")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(args.weights, args.out, args.opset)
    print(f"wrote {args.out} (opset {args.opset}, dynamic batch axis; input 'images', output 'logits')")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
