"""PyTorch's contestant of bench/gpu-inference.ts: ViT-B/16 on CUDA, the seed's module tree in PyTorch's fastest
eager form (bench/inference_torch.py's best-eager), one precision, every batch size asked for. Prints one JSON line.

    python bench/gpu_inference_torch.py --weights W.pth --dtype float32|bfloat16|float16 --batches 1,8,32
        --warmup W --reps N --input FILE.f32 --save-output PREFIX
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_torch import IMAGE_SHAPE, load_seed_model, make_best_eager  # noqa: E402


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--dtype", required=True, choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--batches", required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reps", type=int, required=True)
    parser.add_argument("--input", type=Path, required=True, help="max-batch*3*224*224 little-endian float32 values")
    parser.add_argument("--save-output", required=True, help="logits of batch B go to PREFIX-B.f32, as float32")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible")
    device, dtype = torch.device("cuda"), getattr(torch, args.dtype)
    model = make_best_eager(load_seed_model(args.weights)).to(device=device, dtype=dtype)
    images = torch.from_numpy(np.fromfile(args.input, dtype="<f4")).reshape(-1, *IMAGE_SHAPE)
    results = []
    with torch.inference_mode():
        for batch in [int(b) for b in args.batches.split(",")]:
            x = images[:batch].to(device=device, dtype=dtype)
            # .cpu() waits for the GPU, as vitorch's copy of the logits to the host does.
            step = lambda: model(x).cpu()  # noqa: E731
            for _ in range(args.warmup):
                step()
            seconds = []
            for _ in range(args.reps):
                started = time.perf_counter()
                logits = step()
                seconds.append(time.perf_counter() - started)
            logits.to(torch.float32).numpy().astype("<f4").tofile(f"{args.save_output}-{batch}.f32")
            results.append({"batch": batch, "seconds": seconds})
    print(json.dumps({"dtype": args.dtype, "device": torch.cuda.get_device_name(0), "torchVersion": torch.__version__,
                      "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
