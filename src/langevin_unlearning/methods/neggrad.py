"""Gradient ascent on the forget set: NegGrad, and NegGrad+ which balances it with descent on the remain set.

    neggrad    maximise CE on forget batches (Golatkar et al. 2020; Thudi et al. 2022; "GA" in Jia et al. 2023)
    neggrad+   minimise beta * CE(remain batch) - (1 - beta) * CE(forget batch) (Kurmanji et al. 2023)

CE on the forget set is unbounded above, so plain gradient ascent has no natural stopping point: the
budget is what stops it, and with too large a budget or learning rate the whole model degrades (its known
weakness). Budgets are passes over the forget set with a ``min_steps`` floor, so a one-class forget set
of ~150 digits still gets enough updates while CIFAR-10's 5000 images get proportionally more.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.errors import UserError
from ..core.validation import Validated, in_range, named
from ..engine.batches import BatchStream
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from .base import UnlearningMethod, register_method
from .common import BN


@dataclass
class NegGradSettings(Validated):
    # Jia et al. (NeurIPS 2023), GA: SGD lr 1e-4, momentum 0.9, weight decay 5e-4, 5 epochs over the
    # forget set, BatchNorm in train mode. On a one-class digits forget set 5 epochs are ~15 updates, so
    # ``min_steps`` sets a floor. In train mode BatchNorm's running statistics drift toward the forget
    # set, part of why remain accuracy drops; with bn "frozen" the ascent diverges within tens of updates
    # unless lr is lowered (the loss becoming inf stops the run with a "lower the learning rate" error).
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 5  # passes over the forget set
    min_steps: int = 100  # at least this many updates (small forget sets)
    batch_size: int = 64
    bn: str = "train"  # BatchNorm during unlearning: "train" (as published) or "frozen" statistics

    RULES = {**named("lr", "momentum", "weight_decay", "epochs", "min_steps", "batch_size"), "bn": BN}


@register_method
class NegGrad(UnlearningMethod):
    """Gradient ascent on the forget set: SGD on -CE(f(x_f), y_f). Forgets quickly, but nothing protects
    the remain set, so accuracy elsewhere drops too."""

    name = "neggrad"
    paper = "Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020 (NegGrad); Thudi et al., Unrolling SGD, EuroS&P 2022"
    Settings = NegGradSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s = self.settings
        forget = BatchStream(
            data, split.train_forget, s.batch_size, device=device, generator=torch.Generator().manual_seed(seed)
        )
        total = max(s.epochs * forget.steps_per_pass(), s.min_steps)
        opt = make_optimizer(model.parameters(), "torch-sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        model.train(s.bn == "train")

        def loss_at(t: int):
            x, y = next(forget)
            return -nn.functional.cross_entropy(model(x), y)

        run_steps(model, loss_at, total, opt, progress=progress, desc="neggrad")
        return model.eval()


@dataclass
class NegGradPlusSettings(Validated):
    # Kurmanji et al. (NeurIPS 2023), NegGrad+: loss = beta * CE(remain) - (1 - beta) * CE(forget),
    # SGD lr 0.01, momentum 0.9; one remain batch per forget batch (their loop zips the two loaders).
    beta: float = 0.95  # weight of the remain term; 1 - beta weighs the ascent on the forget set
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 10  # passes over the forget set, each forget batch paired with a remain batch
    min_steps: int = 100  # at least this many updates (small forget sets)
    batch_size: int = 64
    bn: str = "train"  # BatchNorm running statistics: "train" (updated on remain and forget batches) or "frozen"

    RULES = {
        "beta": in_range(0, 1),
        **named("lr", "momentum", "weight_decay", "epochs", "min_steps", "batch_size"),
        "bn": BN,
    }


@register_method
class NegGradPlus(UnlearningMethod):
    """NegGrad+: gradient ascent on the forget set balanced by gradient descent on the remain set,
    ``beta * CE(remain) - (1 - beta) * CE(forget)``."""

    name = "neggrad+"
    paper = "Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023 (NegGrad+)"
    Settings = NegGradPlusSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s = self.settings
        if len(split.train_remain) == 0:
            raise UserError("neggrad+ needs remain data, but the remain set is empty; use neggrad")
        shuffle = torch.Generator().manual_seed(seed)
        forget = BatchStream(data, split.train_forget, s.batch_size, device=device, generator=shuffle)
        remain = BatchStream(
            data, split.train_remain, s.batch_size, device=device, generator=shuffle, images=forget.images
        )
        total = max(s.epochs * forget.steps_per_pass(), s.min_steps)
        opt = make_optimizer(model.parameters(), "torch-sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        model.train(s.bn == "train")
        ce = nn.functional.cross_entropy

        def loss_at(t: int):
            xf, yf = next(forget)
            xr, yr = next(remain)
            return s.beta * ce(model(xr), yr) - (1 - s.beta) * ce(model(xf), yf)

        run_steps(model, loss_at, total, opt, progress=progress, desc="neggrad+")
        return model.eval()
