"""The PyTorch contestants of bench/train.ts: whole training steps of tools/reference_vit.py's model, one process
that keeps its models between commands so that the driver can interleave it with vitorch step by step.

Reads one JSON command per line on stdin and answers each with one JSON line on stdout (anything else it prints
goes to stderr):

  {"cmd": "setup", "model": {reference_vit.VisionTransformer kwargs}, "weights": "W.pth", "images": "X.f32",
   "labels": "Y.i32", "batch": B, "threads": T, "freeze": false, "lr": 2e-3, "weightDecay": 0.05,
   "labelSmoothing": 0.1, "checkLogits": "L.f32", "checkImages": K}
      builds the contestants below from the same state_dict, checks that they compute the same model, writes
      seed-eager's evaluation-mode logits of the first K images to checkLogits (so that the driver can compare
      vitorch's), and answers what it picked (fused AdamW or foreach) and the versions.
  {"cmd": "steps", "contestant": NAME, "steps": N}
      runs N training steps on the batch and answers {"seconds": [...], "losses": [...]}.
  {"cmd": "quit"}

Contestants:
  seed-eager            the seed's VisionTransformer as written (its hand-written GELU, explicit attention),
                        torch.optim.AdamW with PyTorch's own choice of implementation on the CPU, zero_grad(),
                        forward, F.cross_entropy, backward, step: the seed repository's training loop.
  best-eager-sdpa       the same parameters at PyTorch's best in eager mode: attention through
                        F.scaled_dot_product_attention, GELU through F.gelu(approximate='tanh'), AdamW(fused=True)
                        where this torch supports it on the CPU (else foreach=True), zero_grad(set_to_none=True).
  best-eager-explicit   best-eager-sdpa with the seed's explicit attention (softmax(q k^T * scale) v): which of the
                        two is faster depends on the shape, so both run and the driver reports the better one.
  ...-bf16              a best-eager contestant with its forward under torch.autocast('cpu', dtype=bfloat16), as
                        vitorch's autocast: 'bfloat16' runs it (the loss and backward outside the autocast scope).

The best-eager contestants share one model and optimizer: the attention form and autocast are per-step choices
that hold no parameters, and speed does not depend on the weights' values.
"""

import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from reference_vit import Attention, Mlp, VisionTransformer  # noqa: E402

# seed-eager and best-eager are the same model in other kernels: float32 reassociation only, relative to the
# largest logit.
SAME_MODEL_TOLERANCE = 1e-4
BEST_CONTESTANTS = ["best-eager-sdpa", "best-eager-explicit", "best-eager-sdpa-bf16", "best-eager-explicit-bf16"]


def attention_sdpa(self, x):
    batch, tokens, channels = x.shape
    qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads).permute(2, 0, 3, 1, 4)
    # SDPA's default scale is head_dim^-0.5, the seed's; its dropout is the seed's attn_drop on the weights.
    dropout = self.attn_drop.p if self.training else 0.0
    mixed = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=dropout)
    return self.proj_drop(self.proj(mixed.transpose(1, 2).reshape(batch, tokens, channels)))


class TanhGelu(torch.nn.Module):
    """The seed's GELU formula in one fused kernel (same tanh approximation)."""

    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class BestEager:
    """The seed's module tree with its forward code rewired; switchable between the two attention forms."""

    def __init__(self, model):
        self.model = model
        self.attentions = [m for m in model.modules() if isinstance(m, Attention)]
        self.seed_attention = Attention.forward
        for module in model.modules():
            if isinstance(module, Mlp):
                module.act = TanhGelu()
        self.use_sdpa(True)

    def use_sdpa(self, on):
        for module in self.attentions:
            module.forward = types.MethodType(attention_sdpa if on else self.seed_attention, module)


def best_adamw(parameters, lr, weight_decay):
    """AdamW(fused=True) if this torch runs it on the CPU, else the multi-tensor (foreach) form."""
    parameters = list(parameters)
    try:
        probe = torch.nn.Parameter(torch.zeros(4))
        probe.grad = torch.ones(4)
        torch.optim.AdamW([probe], lr=lr, fused=True).step()
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True), "fused"
    except (RuntimeError, ValueError) as error:
        print(f"train_torch: AdamW(fused=True) unavailable on the CPU ({error}); using foreach=True", file=sys.stderr)
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, foreach=True), "foreach"


def seed_adamw_implementation(optimizer):
    """What torch.optim.AdamW() with no implementation flags runs here: PyTorch only defaults to foreach on CUDA."""
    from torch.optim.optimizer import _default_to_fused_or_foreach
    params = [p for group in optimizer.param_groups for p in group["params"]]
    fused, foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
    return "fused" if fused else "foreach" if foreach else "for-loop"


class Session:
    def __init__(self, command):
        torch.set_num_threads(command["threads"])
        model_kwargs = dict(command["model"])
        model_kwargs["input_shape"] = tuple(model_kwargs["input_shape"])
        state = torch.load(command["weights"], weights_only=True)
        batch = command["batch"]
        channels = model_kwargs["in_chans"]
        height, width = model_kwargs["input_shape"]
        images = np.fromfile(command["images"], dtype="<f4")
        labels = np.fromfile(command["labels"], dtype="<i4")
        if images.size != batch * channels * height * width or labels.size != batch:
            raise SystemExit(f"inputs hold {images.size} floats and {labels.size} labels, expected batch {batch} "
                             f"of {channels}x{height}x{width}")
        self.images = torch.from_numpy(images.reshape(batch, channels, height, width))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.label_smoothing = command["labelSmoothing"]

        def build():
            model = VisionTransformer(**model_kwargs)
            model.load_state_dict(state, strict=True)
            return model

        self.seed = build()
        self.best = BestEager(build())
        self.check_same_model(command)
        lr, weight_decay = command["lr"], command["weightDecay"]
        for model in (self.seed, self.best.model):
            if command["freeze"]:
                model.freeze_backbone()
            model.train()
        # Like the seed's train.py: the optimizer gets every parameter; frozen ones simply never have a gradient.
        self.seed_optimizer = torch.optim.AdamW(self.seed.parameters(), lr=lr, weight_decay=weight_decay)
        self.best_optimizer, self.best_adamw = best_adamw(self.best.model.parameters(), lr, weight_decay)
        self.seed_adamw = seed_adamw_implementation(self.seed_optimizer)

    def check_same_model(self, command):
        sample = self.images[: command["checkImages"]]
        self.seed.eval()
        self.best.model.eval()
        with torch.no_grad():
            expected = self.seed(sample)
            scale = expected.abs().max().item()
            for sdpa in (True, False):
                self.best.use_sdpa(sdpa)
                difference = (self.best.model(sample) - expected).abs().max().item()
                if difference > SAME_MODEL_TOLERANCE * scale:
                    raise SystemExit(f"best-eager ({'sdpa' if sdpa else 'explicit'}) differs from seed-eager by "
                                     f"{difference:.3g} (max |logit| {scale:.3g})")
        expected.numpy().astype("<f4").tofile(command["checkLogits"])

    def seed_step(self):
        self.seed_optimizer.zero_grad()
        logits = self.seed(self.images)
        loss = F.cross_entropy(logits, self.labels, label_smoothing=self.label_smoothing)
        loss.backward()
        self.seed_optimizer.step()
        return logits, loss

    def best_step(self, bf16):
        self.best_optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = self.best.model(self.images)
        loss = F.cross_entropy(logits, self.labels, label_smoothing=self.label_smoothing)
        loss.backward()
        self.best_optimizer.step()
        return logits, loss

    def steps(self, contestant, count):
        if contestant == "seed-eager":
            step = self.seed_step
        elif contestant in BEST_CONTESTANTS:
            self.best.use_sdpa("sdpa" in contestant)
            bf16 = contestant.endswith("-bf16")
            step = lambda: self.best_step(bf16)  # noqa: E731
        else:
            raise SystemExit(f"unknown contestant {contestant}")
        seconds, losses = [], []
        for _ in range(count):
            started = time.perf_counter()
            logits, loss = step()
            # What vitorch's step hands back (the loss and the batch's hits) is read inside the timed region on
            # both sides: a training loop logs them.
            loss_value = loss.item()
            (logits.detach().argmax(1) == self.labels).sum().item()
            seconds.append(time.perf_counter() - started)
            losses.append(loss_value)
        return {"seconds": seconds, "losses": losses}


def main():
    session = None
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "setup":
            session = None  # the previous configuration's models go before the next ones are built
            session = Session(command)
            answer = {"torchVersion": torch.__version__, "threads": torch.get_num_threads(),
                      "seedAdamW": session.seed_adamw, "bestAdamW": session.best_adamw}
        elif command["cmd"] == "steps":
            answer = session.steps(command["contestant"], command["steps"])
        else:
            raise SystemExit(f"unknown command {command['cmd']}")
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
