"""The article's recipe as test fixtures (test/optimizer-defaults.test.ts, test/train-fit.test.ts): per optimizer
kind, the settings torch.optim holds after train.py builds it with the recommended Init_lr; the batch-size rule's
constants and some of its results; the learning rate of each epoch of a run as train.py's loop sets it. Everything
comes from tools/article_recipe.py (train.py's facts by line, its own code) and torch, none from vitorch.

    python tools/make_recipe_fixtures.py --out test/fixtures/generated/recipe
"""

import torch

import article_recipe as recipe
from fixture_output import run

# AdamW is not in the article (its optimizer table, train.py:365-368, has 'adam' and 'sgd'). vitorch's AdamW takes
# Adam's learning rate, betas and lr limits, with the decoupled weight decay of the DeiT / timm ViT recipes (0.05):
# train.py's 5e-4, decoupled and multiplied by lr, would hardly decay at all. This is vitorch's choice, stated here
# so that the test holds the TypeScript table to it.
ADAMW_WEIGHT_DECAY = 0.05


def optimizer_settings(kind):
    parameter = torch.nn.Parameter(torch.zeros(1))
    init_lr = recipe.RECOMMENDED_INIT_LR["adam" if kind == "adamw" else kind]
    if kind == "adamw":
        optimizer = torch.optim.AdamW(
            [parameter], init_lr, betas=(recipe.MOMENTUM, 0.999), weight_decay=ADAMW_WEIGHT_DECAY
        )
    else:
        optimizer = recipe.make_optimizer(kind, [parameter], init_lr)
    group = optimizer.param_groups[0]
    settings = {"lr": group["lr"], "minLr": group["lr"] * recipe.MIN_LR_RATIO, "weightDecay": group["weight_decay"]}
    if kind == "sgd":
        settings.update(momentum=group["momentum"], dampening=group["dampening"], nesterov=group["nesterov"])
    else:
        settings.update(betas=list(group["betas"]), eps=group["eps"], amsgrad=group["amsgrad"])
    return settings


def fitted(kind, batch_size, init_lr, min_lr):
    # The article gives Adam's range to the exact name 'adam' only; vitorch's AdamW takes Adam's.
    lr, min_lr_fit, nbs, limits = recipe.fitted_learning_rates(
        "adam" if kind == "adamw" else kind, batch_size, init_lr, min_lr
    )
    return {"lr": lr, "minLr": min_lr_fit, "nbs": nbs, "limits": list(limits)}


def generate(folder, args):
    kinds = ["sgd", "adam", "adamw"]
    optimizers = {kind: optimizer_settings(kind) for kind in kinds}
    scaling_cases = []
    for kind in kinds:
        for batch_size in [1, 2, 16, 32, 100, 128, 256, 512, 4096]:
            for init_lr in [optimizers[kind]["lr"], 3e-2, 1e-4]:
                min_lr = init_lr * recipe.MIN_LR_RATIO
                f = fitted(kind, batch_size, init_lr, min_lr)
                scaling_cases.append(
                    {
                        "optimizer": kind,
                        "batchSize": batch_size,
                        "initLr": init_lr,
                        "minLr": min_lr,
                        "fittedLr": f["lr"],
                        "fittedMinLr": f["minLr"],
                    }
                )
    # The run of test/train-fit.test.ts: SGD, Init_lr 1e-2, Min_lr 1e-4, 4 epochs of which the first frozen at batch
    # size 16, then batch size 32, the 'cos' rule.
    train_fit = {
        "optimizer": "sgd",
        "initLr": 1e-2,
        "minLr": 1e-4,
        "epochs": 4,
        "freezeEpochs": 1,
        "freezeBatchSize": 16,
        "batchSize": 32,
        "lrDecayType": "cos",
    }
    train_fit["rates"] = recipe.epoch_learning_rates(
        "sgd",
        1e-2,
        1e-4,
        UnFreeze_Epoch=4,
        Unfreeze_batch_size=32,
        lr_decay_type="cos",
        Freeze_Train=True,
        Freeze_Epoch=1,
        Freeze_batch_size=16,
    )
    manifest = {
        "repository": recipe.ARTICLE_REPOSITORY,
        "commit": recipe.ARTICLE_COMMIT,
        "torch": torch.__version__,
        "optimizers": optimizers,
        "batchScaling": {
            "minLrRatio": recipe.MIN_LR_RATIO,
            "nbs": fitted("sgd", 32, 1e-2, 1e-4)["nbs"],
            "lrLimits": {kind: fitted(kind, 32, 1e-2, 1e-4)["limits"] for kind in kinds},
            "cases": scaling_cases,
        },
        "train": {
            "epochs": recipe.UNFREEZE_EPOCH,
            "batchSize": recipe.UNFREEZE_BATCH_SIZE,
            "freezeBatchSize": recipe.FREEZE_BATCH_SIZE,
            "savePeriod": recipe.SAVE_PERIOD,
            "lrDecayType": recipe.LR_DECAY_TYPE,
            # The rates the default batch size gives each kind with its recommended Init_lr.
            "fitted": {
                kind: fitted(kind, recipe.UNFREEZE_BATCH_SIZE, optimizers[kind]["lr"], optimizers[kind]["minLr"])
                for kind in kinds
            },
        },
        "runs": {"trainFit": train_fit},
    }
    return manifest


if __name__ == "__main__":
    run("recipe", generate, whole_folder=True, description=__doc__)
