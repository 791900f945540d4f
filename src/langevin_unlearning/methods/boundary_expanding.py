"""Boundary Expanding (Chen et al., Boundary Unlearning, CVPR 2023): send the forget images to a shadow class, then prune it.

  1. Widen the head: a linear layer with C + 1 outputs whose first C rows are the original head and whose extra
     "shadow" row is freshly initialised (nn.Linear's default law, seeded).
  2. Fine-tune the whole network (features + widened head) with every forget image labelled C, the shadow class:
     the forget features move into the shadow class's region, away from their own class.
  3. Prune the shadow neuron: its first C rows go back into ``model.classifier``, so the result has exactly the
     original architecture (same state_dict keys and shapes) and loads like any checkpoint.

The published setting (SGD lr 1e-5, momentum 0.9, 10 passes over the forget set, no remain data) is 30 updates on
a digits class at batch 64: the weights barely move, and what changes is mostly BatchNorm's running statistics,
which the forget-only batches pull towards the forgotten class (on digits: forget accuracy 0.24, remain 0.76).
The defaults keep momentum 0.9, 10 passes and the plain shadow-class loss, but use lr 1e-3 and at least
``min_steps`` = 100 updates: on digits forget accuracy falls to about 0 and remain accuracy to about 0.91 (from
0.99). With no remain term the classes that look like the forgotten one pay for it (5, 8 and 9 for digit 3);
``bn="frozen"`` keeps the running statistics but does worse there (remain about 0.3). ``PRESETS["paper"]``
restores the published values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..core.errors import UserError
from ..core.validation import Validated, named
from ..engine.batches import BatchStream
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from .base import UnlearningMethod, register_method
from .common import BN

PRESETS = {
    # Chen et al. (CVPR 2023), Boundary Expanding: SGD lr 1e-5, momentum 0.9, 10 passes over the forget set
    "paper": dict(lr=1e-5, momentum=0.9, weight_decay=0.0, epochs=10, min_steps=0, batch_size=64),
}


@dataclass
class BoundaryExpandingSettings(Validated):
    lr: float = 1e-3  # published: 1e-5
    momentum: float = 0.9  # published
    weight_decay: float = 0.0  # published: none
    epochs: int = 10  # passes over the forget set (published: 10)
    min_steps: int = 100  # at least this many updates (small forget sets; published: none)
    batch_size: int = 64  # forget batch size (as boundary-shrink here)
    bn: str = "train"  # BatchNorm during fine-tuning: "train" (as published) or "frozen" statistics

    RULES = {**named("lr", "momentum", "weight_decay", "epochs", "min_steps", "batch_size"), "bn": BN}


def widen_head(head: nn.Linear, generator: torch.Generator) -> nn.Linear:
    """A copy of ``head`` with one extra output (the shadow class), initialised as nn.Linear does, from ``generator``."""
    out, fan_in = head.out_features, head.in_features
    wide = nn.Linear(fan_in, out + 1, bias=head.bias is not None).to(device=head.weight.device, dtype=head.weight.dtype)
    bound = 1 / math.sqrt(
        fan_in
    )  # nn.Linear's default: kaiming_uniform(a=sqrt(5)) for the weight, same bound for the bias
    with torch.no_grad():
        wide.weight[:out] = head.weight
        wide.weight[out:] = (torch.rand(1, fan_in, generator=generator) * 2 - 1).mul_(bound).to(wide.weight)
        if head.bias is not None:
            wide.bias[:out] = head.bias
            wide.bias[out:] = (torch.rand(1, generator=generator) * 2 - 1).mul_(bound).to(wide.bias)
    return wide


class Widened(nn.Module):
    """The model's feature extractor under the widened head (shares the feature weights with ``model``)."""

    def __init__(self, model: nn.Module, head: nn.Linear):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.model.features(x))


@register_method
class BoundaryExpanding(UnlearningMethod):
    name = "boundary-expanding"
    paper = "Chen et al., Boundary Unlearning, CVPR 2023 (Boundary Expanding)"
    Settings = BoundaryExpandingSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s: BoundaryExpandingSettings = self.settings
        head = getattr(model, "classifier", None)
        if not isinstance(head, nn.Linear) or not hasattr(model, "features"):
            raise UserError(
                f"boundary-expanding needs a model with features() and a linear classifier head; {type(model).__name__} has none"
            )
        num_classes = head.out_features
        init = torch.Generator().manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed + 1)
        wide = Widened(model, widen_head(head, init))
        forget = BatchStream(data, split.train_forget, s.batch_size, device=device, generator=shuffle)
        total = max(s.epochs * forget.steps_per_pass(), s.min_steps)
        params = [p for n, p in wide.named_parameters() if not n.startswith("model.classifier.")]
        opt = make_optimizer(params, "torch-sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        wide.train(s.bn == "train")

        def loss_at(t: int) -> Tensor:
            x, _ = next(forget)
            shadow = torch.full((len(x),), num_classes, dtype=torch.int64, device=device)
            return nn.functional.cross_entropy(wide(x), shadow)

        run_steps(wide, loss_at, total, opt, progress=progress, desc="boundary-expanding")
        with torch.no_grad():  # prune the shadow neuron: back to the original head's shape
            head.weight.copy_(wide.head.weight[:num_classes])
            if head.bias is not None:
                head.bias.copy_(wide.head.bias[:num_classes])
        return model.eval()
