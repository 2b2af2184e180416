"""One measured load in PyTorch, for bench/checkpoint-load.ts: build the seed model, torch.load the state dict and
load_state_dict it, until the model is ready to run. Prints JSON: seconds and peak resident growth in bytes."""

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from reference_vit import VisionTransformer  # noqa: E402


def resident_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def main(path):
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads())
    before = resident_kib("VmRSS")
    started = time.perf_counter()
    model = VisionTransformer()
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    model.eval()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peakGrowthBytes": (resident_kib("VmHWM") - before) * 1024}))


if __name__ == "__main__":
    main(sys.argv[1])
