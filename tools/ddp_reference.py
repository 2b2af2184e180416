"""PyTorch's side of vitorch's data-parallel tests (test/distributed-training.test.ts): the oracle a job of vitorch
ranks is held to, and a PyTorch DistributedDataParallel rank that joins such a job.

    python tools/ddp_reference.py single JOB OUT [JOB OUT ...]
    python tools/ddp_reference.py worker JOB --rank R --port P --out OUT
    python tools/ddp_reference.py worker JOB --out OUT        (under torchrun: env://, the rank from $RANK)

JOB (JSON, written by the test) describes one data-parallel run of the article's model (reference_vit.py):

    config            vitorch's model options (dropout off, so that a step is deterministic)
    worldSize         how many ranks
    initialWeights    one .pth per rank; DDP broadcasts rank 0's at its construction, so only that one matters
    optimizer         {"kind": "sgd", "lr", "momentum", "dampening", "nesterov", "weightDecay"}
                      or {"kind": "adam" | "adamw", "lr", "betas", "eps", "weightDecay", "fused"}
    accumulationSteps the loss of each batch is divided by it (as vitorch's Trainer does)
    steps             [{"lr", "update", "frozen", "batches": [{"images", "labels", "count"} per rank]}]:
                      images raw little-endian float32 NCHW, labels int32; "frozen" is the backbone's state
                      (freeze_backbone) during that step; "update": false accumulates without an optimizer step
    validation        optional {"images", "labels", "count", "topk"}: evaluated after the last step
    timeoutMs         the worker's collective timeout

single: trains ONE process on the global batch of each step (the ranks' batches concatenated in rank order), which
is what data-parallel training over equal shards must equal: the mean loss over the global batch has the gradient
DDP averages over the ranks. Several jobs run in one call, so that the interpreter starts once.

worker: one rank of the job, as a PyTorch program would be written: init_process_group('gloo') on the tcp://
rendezvous rank 0 hosts, DistributedDataParallel(model) with its defaults (a new one whenever the trainable set
changes: DDP's reducer serves a fixed set of parameters), no_sync() on steps that do not update, and after every
step the all-reduce of the step's figures a vitorch rank makes ([loss * count, correct, count, stop], float64,
sum). With a validation set it evaluates its shard (positions rank, rank + worldSize, ... of the set) and joins the
two sum all-reduces of vitorch's evaluateAll: [lossSum, top1, topk hits, one count slot per rank], then the
predictions (first half) and labels (second half) of all ranks, each rank at its offset.

OUT is a path prefix ("{rank}" in it becomes the rank): OUT.json holds the parameters' names and shapes, each
step's figures and the evaluation; OUT.f32 the final parameters, concatenated in named_parameters() order (float32).
"""

import argparse
import datetime
import gc
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from reference_vit import from_options


def read_array(path, dtype, shape):
    return torch.from_numpy(np.fromfile(path, dtype=dtype).reshape(shape).copy())


def read_batch(job, batch):
    channels = job["config"]["inChans"]
    height, width = job["config"]["inputShape"]
    count = batch["count"]
    images = read_array(batch["images"], "<f4", [count, channels, height, width])
    labels = read_array(batch["labels"], "<i4", [count]).long()
    return images, labels


def build_model(job, rank):
    model = from_options(job["config"])
    model.load_state_dict(torch.load(job["initialWeights"][rank], map_location="cpu", weights_only=True))
    return model.train()


def build_optimizer(job, model):
    o = job["optimizer"]
    parameters = list(model.parameters())
    if o["kind"] == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=o["lr"],
            momentum=o["momentum"],
            dampening=o["dampening"],
            nesterov=o["nesterov"],
            weight_decay=o["weightDecay"],
        )
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o["kind"]]
    # "fused": ATen's fused kernel, vitorch's default for Adam; otherwise torch.optim's for-loop.
    return kind(
        parameters,
        lr=o["lr"],
        betas=tuple(o["betas"]),
        eps=o["eps"],
        weight_decay=o["weightDecay"],
        fused=o.get("fused", False),
    )


def set_frozen(model, frozen):
    if frozen:
        model.freeze_backbone()
    else:
        model.Unfreeze_backbone()


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


def evaluate(model, images, labels, topk):
    """vitorch's evaluation figures of a batch: summed cross-entropy, top-1 and top-k hits, the top-1 classes."""
    model.eval()
    with torch.no_grad():
        logits = model(images)
    model.train()
    k = min(topk, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hits = top.eq(labels.unsqueeze(1))
    return {
        "lossSum": F.cross_entropy(logits, labels, reduction="sum").item(),
        "top1": int(hits[:, 0].sum()),
        "topk": int(hits.any(dim=1).sum()),
        "predictions": top[:, 0],
        "logits": logits,
    }


def write_output(out, model, record):
    names, shapes, values = [], [], []
    for name, parameter in model.named_parameters():
        names.append(name)
        shapes.append(list(parameter.shape))
        values.append(parameter.detach().flatten().numpy().astype("<f4"))
    np.concatenate(values).tofile(f"{out}.f32")
    record["parameters"] = [{"name": n, "shape": s} for n, s in zip(names, shapes, strict=True)]
    Path(f"{out}.json").write_text(json.dumps(record))


def train_single(job, out):
    model = build_model(job, 0)
    optimizer = build_optimizer(job, model)
    accumulation = job["accumulationSteps"]
    steps = []
    for step in job["steps"]:
        set_frozen(model, step["frozen"])
        set_lr(optimizer, step["lr"])
        batches = [read_batch(job, batch) for batch in step["batches"]]
        images = torch.cat([images for images, _ in batches])
        labels = torch.cat([labels for _, labels in batches])
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        (loss / accumulation if accumulation > 1 else loss).backward()
        if step["update"]:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        correct = int(logits.argmax(dim=1).eq(labels).sum())
        steps.append({"loss": loss.item(), "correct": correct, "count": len(labels)})
    record = {"steps": steps}
    validation = job.get("validation")
    if validation:
        images, labels = read_batch(job, validation)
        result = evaluate(model, images, labels, validation["topk"])
        record["evaluation"] = {
            "loss": result["lossSum"] / len(labels),
            "top1": result["top1"] / len(labels),
            "topk": result["topk"] / len(labels),
            "logits": result["logits"].flatten().tolist(),
        }
    write_output(out, model, record)


def evaluate_shard(job, model, rank, world_size):
    """vitorch's evaluateAll over this rank's shard, with its two all-reduces."""
    validation = job["validation"]
    images, labels = read_batch(job, validation)
    positions = list(range(rank, validation["count"], world_size))
    mine = evaluate(model, images[positions], labels[positions], validation["topk"])
    header = torch.zeros(3 + world_size, dtype=torch.float64)
    header[:3] = torch.tensor([mine["lossSum"], mine["top1"], mine["topk"]], dtype=torch.float64)
    header[3 + rank] = len(positions)
    dist.all_reduce(header)
    counts = [int(c) for c in header[3:]]
    total = sum(counts)
    offset = sum(counts[:rank])
    pairs = torch.zeros(2 * total, dtype=torch.float64)
    pairs[offset : offset + len(positions)] = mine["predictions"].double()
    pairs[total + offset : total + offset + len(positions)] = labels[positions].double()
    dist.all_reduce(pairs)
    return {
        "loss": header[0].item() / total,
        "top1": header[1].item() / total,
        "topk": header[2].item() / total,
        "count": total,
        "predictions": [int(p) for p in pairs[:total]],
        "labels": [int(v) for v in pairs[total:]],
    }


def run_worker(job, rank, port, out):
    timeout = datetime.timedelta(milliseconds=job["timeoutMs"])
    if port is None:
        # torchrun's environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and its agent's store.
        dist.init_process_group("gloo", timeout=timeout)
    else:
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=job["worldSize"], timeout=timeout
        )
    rank = dist.get_rank()
    world_size = dist.get_world_size()
    out = out.replace("{rank}", str(rank))
    model = build_model(job, rank)
    optimizer = build_optimizer(job, model)
    accumulation = job["accumulationSteps"]
    ddp = None
    frozen = None
    steps = []
    for index, step in enumerate(job["steps"]):
        if step["frozen"] != frozen:
            # The old wrapper's reducer must let go of its gradient hooks before the new one registers its own.
            del ddp
            gc.collect()
            set_frozen(model, step["frozen"])
            frozen = step["frozen"]
            ddp = DistributedDataParallel(model)
        set_lr(optimizer, step["lr"])
        images, labels = read_batch(job, step["batches"][rank])
        if step["update"]:
            logits = ddp(images)
            loss = F.cross_entropy(logits, labels)
            (loss / accumulation if accumulation > 1 else loss).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        else:
            with ddp.no_sync():
                logits = ddp(images)
                loss = F.cross_entropy(logits, labels)
                (loss / accumulation if accumulation > 1 else loss).backward()
        correct = int(logits.argmax(dim=1).eq(labels).sum())
        count = len(labels)
        figures = torch.tensor([loss.item() * count, correct, count, 0.0], dtype=torch.float64)
        dist.all_reduce(figures)
        steps.append(
            {
                "loss": loss.item(),
                "correct": correct,
                "count": count,
                "global": {
                    "loss": figures[0].item() / figures[2].item(),
                    "correct": int(figures[1]),
                    "count": int(figures[2]),
                },
                "stop": figures[3].item() > 0,
            }
        )
        # As vitorch's ranks do (test/distributed-rank.js): a test can act mid-training.
        print(f"step {index}", flush=True)
    record = {"steps": steps}
    if job.get("validation"):
        record["evaluation"] = evaluate_shard(job, model, rank, world_size)
    write_output(out, model, record)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    single = modes.add_parser("single", help="one process on the global batches")
    single.add_argument("pairs", nargs="+", metavar="JOB OUT")
    worker = modes.add_parser("worker", help="one DistributedDataParallel rank of a job")
    worker.add_argument("job")
    worker.add_argument("--rank", type=int, help="default: $RANK, with --port omitted")
    worker.add_argument("--port", type=int, help="rank 0's rendezvous port; omitted: torchrun's environment")
    worker.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mode == "single":
        if len(args.pairs) % 2 != 0:
            sys.exit("ddp_reference.py single: expected JOB OUT pairs")
        for job_file, out in zip(args.pairs[::2], args.pairs[1::2], strict=True):
            train_single(json.loads(Path(job_file).read_text()), out)
    else:
        run_worker(json.loads(Path(args.job).read_text()), args.rank, args.port, args.out)
        # PyTorch 2.15 can abort at interpreter exit (measured: about 1 run in 100, with PyTorch or vitorch peers
        # alike): a Gloo worker thread lets go of its last finished all-reduce, whose tensor Python owns, after
        # finalization has begun, cannot take the GIL, and std::terminate ends the process. The worker has written
        # everything and left the group, so it ends without finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
