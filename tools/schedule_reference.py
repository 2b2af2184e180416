"""Reference learning rates for test/schedule.test.ts: the oracle the TypeScript schedules are checked against.

Reads {"cases": [{"rule": ..., "options": {...}, "positions": [...]}, ...]} as JSON on stdin and writes
{"torch": ..., "timm": ..., "results": [[lr, ...], ...]} (one list per case, in order) as JSON on stdout.
Floats are written with repr, which round-trips exactly through JSON.parse.

Rules:
  timmCosine         timm's own CosineLRScheduler (the installed timm), stepped to each position.
  seedCos, seedStep  the seed's rules, transcribed fresh from the formulas stated in the task that asked for them
                     (not copied from the seed's code), in plain Python floats, so the TypeScript port is checked
                     against an independent reading of the same specification.
  seedLearningRates  the seed's batch-size scaling of Init_lr / Min_lr, transcribed the same way; "positions" are
                     batch sizes and each result is [lr, minLr].
"""

import json
import math
import sys

import timm
import torch
from timm.scheduler.cosine_lr import CosineLRScheduler


def seed_cos(options, e):
    # Transcribed from the task's statement: W = min(max(0.05 T, 1), 3), s = max(0.1 lr, 1e-6),
    # N = min(max(0.05 T, 1), 15); e <= W warmup (lr - s)(e / W)^2 + s; e >= T - N minLr; otherwise the cosine.
    lr, min_lr, total = options["lr"], options["minLr"], options["total"]
    warmup = min(max(options.get("warmupRatio", 0.05) * total, 1), 3)
    start = max(options.get("warmupLrRatio", 0.1) * lr, 1e-6)
    flat = min(max(options.get("noAugRatio", 0.05) * total, 1), 15)
    if e <= warmup:
        return (lr - start) * (e / warmup) ** 2 + start
    if e >= total - flat:
        return min_lr
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * (e - warmup) / (total - warmup - flat)))


def seed_step(options, e):
    # Transcribed from the task's statement: decay_rate = (minLr / lr)^(1 / (steps - 1)), step_size = T / steps,
    # lr * decay_rate^floor(e / step_size), with an error when step_size < 1. Python's // is the exact floor.
    lr, min_lr, total = options["lr"], options["minLr"], options["total"]
    steps = options.get("steps", 10)
    step_size = total / steps
    if step_size < 1:
        raise ValueError("step_size < 1")
    return lr * ((min_lr / lr) ** (1 / (steps - 1))) ** (e // step_size)


def seed_learning_rates(options, batch_size):
    # Transcribed from the task's statement: ViT limits, SGD [5e-4, 1e-1], Adam [1e-5, 1e-3] (AdamW as Adam).
    low, high = (1e-5, 1e-3) if options["optimizer"] in ("adam", "adamw") else (5e-4, 1e-1)
    nbs = options.get("nbs", 256)
    init_lr = options["initLr"]
    min_lr = options["minLr"]
    return [
        min(max(batch_size / nbs * init_lr, low), high),
        min(max(batch_size / nbs * min_lr, low * 1e-2), high * 1e-2),
    ]


def timm_cosine(options, positions):
    # One parameter is enough: the scheduler only writes param_groups[0]["lr"].
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=options["lr"])
    warmup = options["warmup"]
    total = options["total"]
    prefix = options.get("warmupPrefix", False)
    scheduler = CosineLRScheduler(
        optimizer,
        t_initial=total - warmup if prefix else total,
        lr_min=options.get("minLr", 0.0),
        warmup_t=warmup,
        warmup_lr_init=options.get("warmupStartLr", 0.0),
        warmup_prefix=prefix,
        t_in_epochs=True,
    )
    values = []
    for t in positions:
        scheduler.step(t)
        values.append(optimizer.param_groups[0]["lr"])
    return values


def main():
    request = json.load(sys.stdin)
    results = []
    for case in request["cases"]:
        rule, options, positions = case["rule"], case["options"], case["positions"]
        if rule == "timmCosine":
            results.append(timm_cosine(options, positions))
        elif rule == "seedCos":
            results.append([seed_cos(options, e) for e in positions])
        elif rule == "seedStep":
            results.append([seed_step(options, e) for e in positions])
        elif rule == "seedLearningRates":
            results.append([seed_learning_rates(options, b) for b in positions])
        else:
            raise SystemExit(f"unknown rule {rule!r}")
    json.dump({"torch": torch.__version__, "timm": timm.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
