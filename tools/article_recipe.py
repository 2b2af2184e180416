"""The article's training recipe, as its own code states it: the oracle for vitorch's optimizer defaults, its
batch-size learning-rate rule and its learning-rate schedules (tools/make_recipe_fixtures.py, tools/schedule_reference.py).

The article's training code is github.com/bubbliiiing/classification-pytorch (MIT, (c) 2020 Bubbliiiing); the line
numbers below are of commit e6130a53224348b19e5e0b165288a783377fa687. Nothing here is read from vitorch's TypeScript:
the facts are train.py's assignments, written down with the line they come from, and the learning-rate code is the
repository's own utils/utils.py get_lr_scheduler, copied verbatim.
"""
import math
from functools import partial

ARTICLE_REPOSITORY = "https://github.com/bubbliiiing/classification-pytorch"
ARTICLE_COMMIT = "e6130a53224348b19e5e0b165288a783377fa687"

# train.py:125 Freeze_batch_size = 32; :133 UnFreeze_Epoch = 200; :134 Unfreeze_batch_size = 32.
FREEZE_BATCH_SIZE = 32
UNFREEZE_EPOCH = 200
UNFREEZE_BATCH_SIZE = 32
# train.py:145-147 and :153-155: "Init_lr ... when using Adam set Init_lr=1e-3; when using SGD set Init_lr=1e-2".
# The code's single Init_lr (:150) is 1e-2, SGD's; each optimizer's recommended value is what a default can be.
RECOMMENDED_INIT_LR = {"sgd": 1e-2, "adam": 1e-3}
# train.py:151 Min_lr = Init_lr * 0.01.
MIN_LR_RATIO = 0.01
# train.py:161 momentum = 0.9; :162 weight_decay = 5e-4; :166 lr_decay_type = "cos".
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
LR_DECAY_TYPE = "cos"
# train.py:170 save_period = 10.
SAVE_PERIOD = 10
# train.py:358 the ViT and Swin backbones.
TRANSFORMER_BACKBONES = ["vit_b_16", "swin_transformer_tiny", "swin_transformer_small", "swin_transformer_base"]


def fitted_learning_rates(optimizer_type, batch_size, Init_lr, Min_lr, backbone="vit_b_16"):
    """train.py:355-363 (and again :415-423 at unfreezing), verbatim but for the indentation: Init_lr and Min_lr for
    a batch of nbs images, scaled to batch_size and clamped. Note that only the exact name 'adam' gets Adam's range."""
    nbs             = 64
    lr_limit_max    = 1e-3 if optimizer_type == 'adam' else 1e-1
    lr_limit_min    = 1e-4 if optimizer_type == 'adam' else 5e-4
    if backbone in ['vit_b_16', 'swin_transformer_tiny', 'swin_transformer_small', 'swin_transformer_base']:
        nbs             = 256
        lr_limit_max    = 1e-3 if optimizer_type == 'adam' else 1e-1
        lr_limit_min    = 1e-5 if optimizer_type == 'adam' else 5e-4
    Init_lr_fit     = min(max(batch_size / nbs * Init_lr, lr_limit_min), lr_limit_max)
    Min_lr_fit      = min(max(batch_size / nbs * Min_lr, lr_limit_min * 1e-2), lr_limit_max * 1e-2)
    return Init_lr_fit, Min_lr_fit, nbs, (lr_limit_min, lr_limit_max)


def make_optimizer(optimizer_type, parameters, Init_lr_fit, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY):
    """train.py:365-368, verbatim but for the indentation and the names of its locals. SGD is given no weight_decay."""
    import torch.optim as optim
    model_train_parameters = list(parameters)
    optimizer = {
        'adam'  : optim.Adam(model_train_parameters, Init_lr_fit, betas = (momentum, 0.999), weight_decay=weight_decay),
        'sgd'   : optim.SGD(model_train_parameters, Init_lr_fit, momentum = momentum, nesterov=True)
    }[optimizer_type]
    return optimizer


# utils/utils.py:101-131, verbatim.
def get_lr_scheduler(lr_decay_type, lr, min_lr, total_iters, warmup_iters_ratio = 0.05, warmup_lr_ratio = 0.1, no_aug_iter_ratio = 0.05, step_num = 10):
    def yolox_warm_cos_lr(lr, min_lr, total_iters, warmup_total_iters, warmup_lr_start, no_aug_iter, iters):
        if iters <= warmup_total_iters:
            # lr = (lr - warmup_lr_start) * iters / float(warmup_total_iters) + warmup_lr_start
            lr = (lr - warmup_lr_start) * pow(iters / float(warmup_total_iters), 2) + warmup_lr_start
        elif iters >= total_iters - no_aug_iter:
            lr = min_lr
        else:
            lr = min_lr + 0.5 * (lr - min_lr) * (
                1.0 + math.cos(math.pi* (iters - warmup_total_iters) / (total_iters - warmup_total_iters - no_aug_iter))
            )
        return lr

    def step_lr(lr, decay_rate, step_size, iters):
        if step_size < 1:
            raise ValueError("step_size must above 1.")
        n       = iters // step_size
        out_lr  = lr * decay_rate ** n
        return out_lr

    if lr_decay_type == "cos":
        warmup_total_iters  = min(max(warmup_iters_ratio * total_iters, 1), 3)
        warmup_lr_start     = max(warmup_lr_ratio * lr, 1e-6)
        no_aug_iter         = min(max(no_aug_iter_ratio * total_iters, 1), 15)
        func = partial(yolox_warm_cos_lr ,lr, min_lr, total_iters, warmup_total_iters, warmup_lr_start, no_aug_iter)
    else:
        decay_rate  = (min_lr / lr) ** (1 / (step_num - 1))
        step_size   = total_iters / step_num
        func = partial(step_lr, lr, decay_rate, step_size)

    return func


def epoch_learning_rates(optimizer_type, Init_lr, Min_lr, UnFreeze_Epoch, Unfreeze_batch_size, lr_decay_type="cos",
                         Freeze_Train=False, Freeze_Epoch=0, Freeze_batch_size=FREEZE_BATCH_SIZE, Init_Epoch=0,
                         backbone="vit_b_16"):
    """The learning rate of each epoch as train.py's loop sets it (:350 the first phase's batch size, :362-363 the
    fitted rates, :373 the rule, :404-427 the unfreezing with its own batch size and rates, :450 set_optimizer_lr
    once per epoch), without the model and the data."""
    batch_size = Freeze_batch_size if Freeze_Train else Unfreeze_batch_size
    Init_lr_fit, Min_lr_fit, _, _ = fitted_learning_rates(optimizer_type, batch_size, Init_lr, Min_lr, backbone)
    lr_scheduler_func = get_lr_scheduler(lr_decay_type, Init_lr_fit, Min_lr_fit, UnFreeze_Epoch)
    UnFreeze_flag = False
    rates = []
    for epoch in range(Init_Epoch, UnFreeze_Epoch):
        if epoch >= Freeze_Epoch and not UnFreeze_flag and Freeze_Train:
            batch_size = Unfreeze_batch_size
            Init_lr_fit, Min_lr_fit, _, _ = fitted_learning_rates(optimizer_type, batch_size, Init_lr, Min_lr, backbone)
            lr_scheduler_func = get_lr_scheduler(lr_decay_type, Init_lr_fit, Min_lr_fit, UnFreeze_Epoch)
            UnFreeze_flag = True
        rates.append({"epoch": epoch, "batchSize": batch_size, "lr": lr_scheduler_func(epoch)})
    return rates
