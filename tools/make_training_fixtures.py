"""Generate the PyTorch reference for the training tests: gradients of the seed model for one
batch, and the parameters after several torch.optim steps (SGD, Adam, AdamW, parameter groups,
clipping, a frozen backbone), described by DIR/manifest.json.

    python tools/make_training_fixtures.py --out test/fixtures/generated/training [--force]

Dropout, attention dropout and DropPath are off (0), so a step is deterministic. Arrays are raw
little-endian float32 (.f32) and int32 (.i32). Seeded: the same torch version gives the same
bytes; the run does nothing when DIR/manifest.json is up to date (unless --force).
"""

import torch

from fixture_output import run
from random_weights import randomize_parameters
from reference_vit import from_options

GENERATOR_VERSION = 3

# A Fashion-MNIST-sized model: 28x28 single-channel images, 7x7 patches of 4.
CONFIG = dict(
    inputShape=[28, 28],
    patchSize=4,
    inChans=1,
    numClasses=10,
    numFeatures=32,
    depth=2,
    numHeads=4,
    mlpRatio=2.0,
    qkvBias=True,
    dropRate=0.0,
    attnDropRate=0.0,
    dropPathRate=0.0,
)
BATCH = 6
STEPS = 3
# The learning rate of step t is base * LR_FACTORS[t], as a schedule would set it.
LR_FACTORS = [1.0, 0.5, 0.25]
LABEL_SMOOTHING = 0.1

# name -> (torch.optim class, keyword arguments, use two groups, max grad norm, freeze backbone)
OPTIMIZER_CASES = {
    "sgd-nesterov-wd": ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), False, 0.0, False),
    "sgd-dampening": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.0), False, 0.0, False),
    "adam-groups": ("adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4), True, 0.0, False),
    # eps 1e-4: near-zero gradients (a dead GELU unit) stay near-zero steps, so the comparison tests the update rule
    # rather than how two implementations round noise (Adam turns noise into steps of about lr at eps 1e-8).
    "adamw-groups-clip": ("adamw", dict(lr=2e-3, betas=(0.85, 0.99), eps=1e-4, weight_decay=0.05), True, 0.5, False),
    "adamw-frozen": ("adamw", dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05), False, 0.0, True),
}
# In two-group cases the second group (biases, norms, cls_token, pos_embed) has no weight decay
# and half the learning rate.
NO_DECAY_LR_SCALE = 0.5


def build_model():
    return randomize_parameters(from_options(CONFIG), 4242).train()


def write(path, tensor, dtype):
    tensor.detach().contiguous().numpy().astype(dtype, copy=False).tofile(path)


def batch(index):
    generator = torch.Generator().manual_seed(7000 + index)
    images = torch.randn([BATCH, CONFIG["inChans"], *CONFIG["inputShape"]], generator=generator)
    labels = torch.randint(0, CONFIG["numClasses"], [BATCH], generator=generator)
    return images, labels


def two_groups(model):
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        is_matrix = parameter.dim() >= 2 and name not in ("cls_token", "pos_embed")
        (decay if is_matrix else no_decay).append((name, parameter))
    return decay, no_decay


def make_gradients(out, manifest):
    model = build_model()
    images, labels = batch(0)
    write(out / "grad-images.f32", images, "<f4")
    write(out / "grad-labels.i32", labels.to(torch.int32), "<i4")
    logits = model(images)
    loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)
    loss.backward()
    grads = {}
    for index, (name, parameter) in enumerate(model.named_parameters()):
        file = f"grad-{index:02d}.f32"
        write(out / file, parameter.grad, "<f4")
        grads[name] = {"file": file, "shape": list(parameter.shape)}
    manifest["gradients"] = {
        "images": "grad-images.f32",
        "labels": "grad-labels.i32",
        "loss": loss.item(),
        "logits": logits.detach().flatten().tolist(),
        "labelSmoothing": LABEL_SMOOTHING,
        "parameters": grads,
    }


def make_autocast_gradients(out, manifest):
    """The same batch's gradients with the forward under torch.autocast('cpu', bfloat16) (loss in float32 outside
    it), and with the model in float64: both run vitorch's plain attention kernels rather than the fused one."""
    images, labels = batch(0)
    model = build_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(images)
    torch.nn.functional.cross_entropy(logits.float(), labels, label_smoothing=LABEL_SMOOTHING).backward()
    bf16 = {}
    for index, (name, parameter) in enumerate(model.named_parameters()):
        file = f"grad-bf16-{index:02d}.f32"
        write(out / file, parameter.grad, "<f4")
        bf16[name] = {"file": file, "shape": list(parameter.shape)}
    model = build_model().double()
    logits = model(images.double())
    torch.nn.functional.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING).backward()
    f64 = {}
    for index, (name, parameter) in enumerate(model.named_parameters()):
        file = f"grad-f64-{index:02d}.f64"
        write(out / file, parameter.grad, "<f8")
        f64[name] = {"file": file, "shape": list(parameter.shape)}
    manifest["gradients"]["bfloat16Autocast"] = bf16
    manifest["gradients"]["float64"] = f64


def make_optimizer_case(out, manifest, name, kind, kwargs, grouped, max_norm, freeze):
    model = build_model()
    if freeze:
        model.freeze_backbone()
    base_lr = kwargs["lr"]
    if grouped:
        decay, no_decay = two_groups(model)
        groups = [
            {"params": [p for _, p in decay]},
            {"params": [p for _, p in no_decay], "weight_decay": 0.0, "lr": base_lr * NO_DECAY_LR_SCALE},
        ]
        scales = [1.0, NO_DECAY_LR_SCALE]
        group_names = [[n for n, _ in decay], [n for n, _ in no_decay]]
    else:
        groups = [{"params": list(model.parameters())}]
        scales = [1.0]
        group_names = None
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind](groups, **kwargs)
    losses = []
    for step in range(STEPS):
        for group, scale in zip(optimizer.param_groups, scales, strict=True):
            group["lr"] = base_lr * LR_FACTORS[step] * scale
        images, labels = batch(step + 1)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels, label_smoothing=LABEL_SMOOTHING)
        loss.backward()
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_norm)
        optimizer.step()
        losses.append(loss.item())
    parameters = {}
    for index, (pname, parameter) in enumerate(model.named_parameters()):
        file = f"{name}-{index:02d}.f32"
        write(out / file, parameter, "<f4")
        parameters[pname] = {"file": file, "shape": list(parameter.shape)}
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    manifest["optimizers"][name] = {
        "kind": kind,
        "options": options,
        "groupNames": group_names,
        "noDecayLrScale": NO_DECAY_LR_SCALE,
        "maxGradNorm": max_norm,
        "freeze": freeze,
        "losses": losses,
        "parameters": parameters,
    }


def generate(out, args):
    torch.manual_seed(0)
    model = build_model()
    checkpoint = out / "initial.pth"
    torch.save(model.state_dict(), checkpoint)
    manifest = {
        "config": CONFIG,
        "checkpoint": "initial.pth",
        "batch": BATCH,
        "steps": STEPS,
        "lrFactors": LR_FACTORS,
        "labelSmoothing": LABEL_SMOOTHING,
        "batches": [],
        "optimizers": {},
        "parameterNames": [n for n, _ in model.named_parameters()],
    }
    for step in range(STEPS):
        images, labels = batch(step + 1)
        write(out / f"batch-{step}-images.f32", images, "<f4")
        write(out / f"batch-{step}-labels.i32", labels.to(torch.int32), "<i4")
        manifest["batches"].append({"images": f"batch-{step}-images.f32", "labels": f"batch-{step}-labels.i32"})
    make_gradients(out, manifest)
    make_autocast_gradients(out, manifest)
    for name, (kind, kwargs, grouped, max_norm, freeze) in OPTIMIZER_CASES.items():
        make_optimizer_case(out, manifest, name, kind, kwargs, grouped, max_norm, freeze)
    return manifest


if __name__ == "__main__":
    run("training", generate, stamp={"generator": GENERATOR_VERSION, "torch": torch.__version__})
