"""The article's training recipe, as its own code states it: the oracle for vitorch's optimizer defaults, its
batch-size learning-rate rule and its learning-rate schedules (tools/make_recipe_fixtures.py,
tools/schedule_reference.py).

The article's training code is github.com/bubbliiiing/classification-pytorch (MIT, (c) 2020 Bubbliiiing); the line
numbers below are of commit e6130a53224348b19e5e0b165288a783377fa687. Nothing here is read from vitorch's TypeScript:
the facts are train.py's assignments, written down with the line they come from, and its batch-size rule, optimizer
table and utils/utils.py's learning-rate rules, re-expressed here from what they compute (no code of that repository
is copied).
"""

import math

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
    """The facts of train.py:355-363 (again :415-423 at unfreezing): Init_lr and Min_lr are rates for a nominal batch
    of nbs images; the run's batch_size scales them linearly, then each is clamped, Init_lr into [low, high] and Min_lr
    into [low * 1e-2, high * 1e-2]. nbs is 256 for the transformer backbones and 64 otherwise; the range is Adam's only
    for the exact name 'adam' ([1e-5, 1e-3] for transformers, [1e-4, 1e-3] otherwise), SGD's [5e-4, 1e-1] for any
    other name. Returns the two fitted rates, nbs and the (low, high) range."""
    transformer = backbone in TRANSFORMER_BACKBONES
    nominal_batch = 256 if transformer else 64
    if optimizer_type == "adam":
        low, high = (1e-5 if transformer else 1e-4), 1e-3
    else:
        low, high = 5e-4, 1e-1

    def clamp(value, lowest, highest):
        return highest if value > highest else lowest if value < lowest else value

    scale = batch_size / nominal_batch
    return (
        clamp(scale * Init_lr, low, high),
        clamp(scale * Min_lr, low * 1e-2, high * 1e-2),
        nominal_batch,
        (low, high),
    )


def make_optimizer(optimizer_type, parameters, Init_lr_fit, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY):
    """The facts of train.py:365-368: 'adam' is torch.optim.Adam with betas (momentum, 0.999) and the weight decay;
    'sgd' is torch.optim.SGD with that momentum and Nesterov, and no weight decay at all."""
    import torch.optim as optim

    if optimizer_type == "adam":
        return optim.Adam(list(parameters), Init_lr_fit, betas=(momentum, 0.999), weight_decay=weight_decay)
    if optimizer_type == "sgd":
        return optim.SGD(list(parameters), Init_lr_fit, momentum=momentum, nesterov=True)
    raise KeyError(optimizer_type)


def get_lr_scheduler(
    lr_decay_type,
    lr,
    min_lr,
    total_iters,
    warmup_iters_ratio=0.05,
    warmup_lr_ratio=0.1,
    no_aug_iter_ratio=0.05,
    step_num=10,
):
    """The rules of utils/utils.py:101-131 (written here from what they compute), as a function of the position.

    'cos': a warmup of min(max(5% of total, 1), 3) positions rising quadratically from max(10% of lr, 1e-6) to lr
    (position 0 gives the start; the warmup's last position gives lr), then a half cosine from lr down to min_lr over
    the positions left once a tail of min(max(5% of total, 1), 15) positions is set aside, and min_lr over that tail.
    Anything else: step_num steps of equal length total / step_num, each multiplying by the ratio that takes lr to
    min_lr in step_num - 1 steps."""
    if lr_decay_type == "cos":
        warmup = min(max(warmup_iters_ratio * total_iters, 1), 3)
        start = max(warmup_lr_ratio * lr, 1e-6)
        tail = min(max(no_aug_iter_ratio * total_iters, 1), 15)
        decay_length = total_iters - warmup - tail

        def cosine(position):
            if position <= warmup:
                return start + (lr - start) * (position / warmup) ** 2
            if position >= total_iters - tail:
                return min_lr
            angle = math.pi * (position - warmup) / decay_length
            return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(angle))

        return cosine

    ratio = (min_lr / lr) ** (1 / (step_num - 1))
    step_length = total_iters / step_num

    def step(position):
        # The article refuses steps shorter than one position when the rule is used, not when it is made.
        if step_length < 1:
            raise ValueError("the step rule needs at least as many positions as steps")
        return lr * ratio ** (position // step_length)

    return step


def epoch_learning_rates(
    optimizer_type,
    Init_lr,
    Min_lr,
    UnFreeze_Epoch,
    Unfreeze_batch_size,
    lr_decay_type="cos",
    Freeze_Train=False,
    Freeze_Epoch=0,
    Freeze_batch_size=FREEZE_BATCH_SIZE,
    Init_Epoch=0,
    backbone="vit_b_16",
):
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
