"""One PyTorch rank of bench/distributed.ts, the twin of bench/distributed-node.ts (same commands, same answers).

Joins the process group with torch.distributed.init_process_group("gloo") from torchrun's environment variables
(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), answers {"ready": true, ...}, then reads one JSON command per line on
stdin and answers each with one JSON line on stdout (anything else goes to stderr):

  {"cmd": "allreduce", "model": {reference_vit kwargs}, "layout": L, "reps": R}
      R timed all-reduces (SUM) of tensors shaped like that model's gradients, a barrier before each; L is
        "flat64"    one float64 tensor of as many bytes as the gradients (what vitorch's allReduceSum reduces)
        "flat32"    one float32 tensor of all the gradients
        "buckets"   the gradients in DistributedDataParallel's buckets: parameters in reverse order, a 1 MiB first
                    bucket then 25 MiB ones, one flat float32 tensor per bucket, all launched with async_op=True
                    and then waited for, as DDP's Reducer launches them during backward
        "tensors"   one all-reduce per parameter-shaped tensor, all launched with async_op=True, then waited for
  {"cmd": "count", "model": {...}}
      answers {"elements": N}, the model's gradient values.
  {"cmd": "setup", "model": {...}, "weights": "W.pth", "images": "X.f32", "labels": "Y.i32", "batch": B, "lr": ...,
   "weightDecay": ..., "labelSmoothing": ...}
      tools/reference_vit.py's model with bench/train_torch.py's best-eager forward (F.scaled_dot_product_attention,
      F.gelu(approximate="tanh")) and AdamW(fused=True), loaded from W.pth; wrapped in
      DistributedDataParallel with its defaults (25 MiB buckets, gradient_as_bucket_view=False). The images file
      holds the global batch of 2B images; this rank's shard is [rank B, (rank + 1) B).
  {"cmd": "steps", "mode": "dp" | "solo", "threads": T, "batch": "shard" | "full", "steps": N}
      N timed steps after torch.set_num_threads(T). "dp" steps through the DDP wrapper and all-reduces the step's
      loss sum, hits and count (float64) as vitorch's data-parallel step does for its result; "solo" steps the
      wrapped module itself (DDP's hooks stay idle, as under no_sync), with an AdamW of its own (as vitorch's
      data-parallel and plain Trainers each hold one).
  {"cmd": "release"}, {"cmd": "quit"}
"""

import functools
import json
import sys
import time
import traceback

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from train_torch import BestEager, VisionTransformer, best_adamw

# DistributedDataParallel's defaults (torch/nn/parallel/distributed.py and c10d's reducer).
BUCKET_BYTES = 25 * 1024 * 1024
FIRST_BUCKET_BYTES = 1024 * 1024


def model_kwargs(description):
    kwargs = dict(description)
    kwargs["input_shape"] = tuple(kwargs["input_shape"])
    return kwargs


@functools.cache
def cached_shapes(key):
    model = VisionTransformer(**model_kwargs(json.loads(key)))
    return [tuple(p.shape) for p in model.parameters() if p.requires_grad]


def gradient_shapes(description):
    """The shapes of the model's gradients (the model built once per description and dropped)."""
    return cached_shapes(json.dumps(description, sort_keys=True))


def ddp_buckets(shapes):
    """Element counts of DDP's buckets over float32 gradients: reverse parameter order, the first bucket closed at
    1 MiB, later ones at 25 MiB (a bucket closes once it reaches its cap, as compute_bucket_assignment_by_size)."""
    sizes, current, cap = [], 0, FIRST_BUCKET_BYTES
    for shape in reversed(shapes):
        current += int(np.prod(shape))
        if current * 4 >= cap:
            sizes.append(current)
            current, cap = 0, BUCKET_BYTES
    if current:
        sizes.append(current)
    return sizes


def allreduce(command):
    shapes = gradient_shapes(command["model"])
    elements = sum(int(np.prod(s)) for s in shapes)
    layout = command["layout"]
    if layout == "flat64":
        tensors = [torch.ones(elements // 2, dtype=torch.float64)]
    elif layout == "flat32":
        tensors = [torch.ones(elements)]
    elif layout == "buckets":
        tensors = [torch.ones(n) for n in ddp_buckets(shapes)]
    elif layout == "tensors":
        tensors = [torch.ones(s) for s in shapes]
    else:
        raise ValueError(f"unknown layout {layout}")
    seconds = []
    for _ in range(command["reps"]):
        for t in tensors:
            t.fill_(dist.get_rank() + 1)
        dist.barrier()
        started = time.perf_counter()
        works = [dist.all_reduce(t, async_op=True) for t in tensors]
        for work in works:
            work.wait()
        seconds.append(time.perf_counter() - started)
    expected = dist.get_world_size() * (dist.get_world_size() + 1) / 2
    if any(t.view(-1)[0].item() != expected for t in tensors):
        raise RuntimeError(f"all_reduce gave {tensors[0].view(-1)[0].item()}, expected {expected}")
    return {"seconds": seconds, "tensors": len(tensors), "elements": elements}


class Session:
    def __init__(self, command):
        rank, world = dist.get_rank(), dist.get_world_size()
        kwargs = model_kwargs(command["model"])
        model = VisionTransformer(**kwargs)
        model.load_state_dict(torch.load(command["weights"], weights_only=True), strict=True)
        self.best = BestEager(model)
        self.best.use_sdpa(True)
        model.train()
        self.model = model
        self.ddp = DistributedDataParallel(model)
        # One optimizer per way of stepping, as vitorch's two Trainers each hold their own AdamW.
        lr, weight_decay = command["lr"], command["weightDecay"]
        self.optimizers = {mode: best_adamw(model.parameters(), lr, weight_decay) for mode in ("dp", "solo")}
        self.adamw = self.optimizers["dp"][1]
        self.label_smoothing = command["labelSmoothing"]
        batch = command["batch"]
        channels = kwargs["in_chans"]
        height, width = kwargs["input_shape"]
        images = np.fromfile(command["images"], dtype="<f4")
        labels = np.fromfile(command["labels"], dtype="<i4").astype(np.int64)
        if images.size != world * batch * channels * height * width or labels.size != world * batch:
            raise ValueError(
                f"expected {world * batch} images and labels, received {images.size} floats and {labels.size} labels"
            )
        full_images = torch.from_numpy(images.reshape(world * batch, channels, height, width))
        full_labels = torch.from_numpy(labels)
        self.full = (full_images, full_labels)
        self.shard = (full_images[rank * batch : (rank + 1) * batch], full_labels[rank * batch : (rank + 1) * batch])

    def step(self, parallel, images, labels):
        optimizer = self.optimizers["dp" if parallel else "solo"][0]
        optimizer.zero_grad(set_to_none=True)
        logits = (self.ddp if parallel else self.model)(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        loss.backward()
        optimizer.step()
        # What vitorch's step hands back, read inside the timed region on both sides: the loss and the batch's
        # hits, and with a process group their sums over every rank.
        count = labels.shape[0]
        correct = (logits.detach().argmax(1) == labels).sum().item()
        loss_value = loss.item()
        if not parallel:
            return loss_value
        totals = torch.tensor([loss_value * count, correct, count, 0], dtype=torch.float64)
        dist.all_reduce(totals)
        return totals[0].item() / totals[2].item()

    def steps(self, command):
        if torch.get_num_threads() != command["threads"]:
            torch.set_num_threads(command["threads"])
        images, labels = self.full if command["batch"] == "full" else self.shard
        parallel = command["mode"] == "dp"
        seconds, losses = [], []
        for _ in range(command["steps"]):
            started = time.perf_counter()
            losses.append(self.step(parallel, images, labels))
            seconds.append(time.perf_counter() - started)
        return {"seconds": seconds, "losses": losses, "threads": torch.get_num_threads()}


def main():
    dist.init_process_group("gloo")
    answer = lambda value: print(json.dumps(value), flush=True)  # noqa: E731
    answer(
        {
            "ready": True,
            "rank": dist.get_rank(),
            "worldSize": dist.get_world_size(),
            "threads": torch.get_num_threads(),
            "torchVersion": torch.__version__,
        }
    )
    session = None
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "quit":
                break
            if command["cmd"] == "setup":
                session = None  # the previous model goes before the next one is built
                session = Session(command)
                answer({"parameters": sum(p.numel() for p in session.model.parameters()), "adamw": session.adamw})
            elif command["cmd"] == "steps":
                answer(session.steps(command))
            elif command["cmd"] == "allreduce":
                answer(allreduce(command))
            elif command["cmd"] == "count":
                answer({"elements": sum(int(np.prod(s)) for s in gradient_shapes(command["model"]))})
            elif command["cmd"] == "release":
                session = None
                answer({})
            else:
                raise ValueError(f"unknown command {command['cmd']}")
        except Exception:  # noqa: BLE001 - the driver reports it and stops
            answer({"error": traceback.format_exc()})
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
