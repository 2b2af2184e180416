"""Reference learning rates for test/schedule.test.ts: the oracle the TypeScript schedules are checked against.

Reads {"cases": [{"rule": ..., "options": {...}, "positions": [...]}, ...]} as JSON on stdin and writes
{"torch": ..., "timm": ..., "results": [[lr, ...], ...]} (one list per case, in order) as JSON on stdout.
Floats are written with repr, which round-trips exactly through JSON.parse.

Rules:
  timmCosine                timm's own CosineLRScheduler (the installed timm), stepped to each position.
  quadraticWarmupCosine,    the article's 'cos' and 'step' rules: its repository's own get_lr_scheduler
  stepDecay                 (utils/utils.py, re-expressed in tools/article_recipe.py), evaluated at each position.
  batchScaledLearningRates  the article's batch-size scaling of Init_lr / Min_lr: train.py's own lines
                            (article_recipe.fitted_learning_rates) for its nbs of 256; for another nbs (vitorch's
                            option) the same formula with the ViT limits, transcribed. "positions" are batch sizes
                            and each result is [lr, minLr].
"""

import json
import sys

import timm
import torch
from timm.scheduler.cosine_lr import CosineLRScheduler

import article_recipe


def article_rule(kind, options, e):
    rule = article_recipe.get_lr_scheduler(
        kind,
        options["lr"],
        options["minLr"],
        options["total"],
        warmup_iters_ratio=options.get("warmupRatio", 0.05),
        warmup_lr_ratio=options.get("warmupLrRatio", 0.1),
        no_aug_iter_ratio=options.get("noAugRatio", 0.05),
        step_num=options.get("steps", 10),
    )
    return rule(e)


def batch_scaled_learning_rates(options, batch_size):
    kind = "adam" if options["optimizer"] == "adamw" else options["optimizer"]  # vitorch's AdamW takes Adam's range
    nbs = options.get("nbs", 256)
    init_lr = options["initLr"]
    min_lr = options["minLr"]
    if nbs == 256:
        lr, min_lr_fit, _, _ = article_recipe.fitted_learning_rates(
            kind, batch_size, init_lr, min_lr, backbone="vit_b_16"
        )
        return [lr, min_lr_fit]
    low, high = (1e-5, 1e-3) if kind == "adam" else (5e-4, 1e-1)
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
        elif rule == "quadraticWarmupCosine":
            results.append([article_rule("cos", options, e) for e in positions])
        elif rule == "stepDecay":
            results.append([article_rule("step", options, e) for e in positions])
        elif rule == "batchScaledLearningRates":
            results.append([batch_scaled_learning_rates(options, b) for b in positions])
        else:
            raise SystemExit(f"unknown rule {rule!r}")
    json.dump({"torch": torch.__version__, "timm": timm.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
