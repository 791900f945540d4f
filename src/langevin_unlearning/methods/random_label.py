"""Random labels: fine-tune on the forget images relabelled with wrong classes, plus the remain set.

Each update is  CE(f(x_f), y_random) + remain_weight * CE(f(x_r), y_r)  for a forget batch x_f and a
remain batch x_r. The random label is never the true class (``random_wrong_labels``). By default each
forget image gets one random label, drawn once from the seeded generator and kept for the whole run, as
in the published code (which relabels the forget dataset once); ``resample_labels`` draws fresh ones
every step instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.errors import UserError
from ..core.validation import Validated, named, non_negative
from ..engine.batches import BatchStream, batch_input
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from .base import UnlearningMethod, register_method
from .common import BN, random_wrong_labels


@dataclass
class RandomLabelSettings(Validated):
    # Golatkar et al. (CVPR 2020) and Hayase et al. (2020) use random labels as a baseline; Jia et al.
    # (NeurIPS 2023) fine-tune on relabelled forget data together with the remain data at lr ~0.01.
    remain_weight: float = 1.0  # weight of the remain-data term (0: forget images only)
    resample_labels: bool = False  # fresh random labels every step instead of one fixed label per image
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 10  # passes over the forget set
    min_steps: int = 100  # at least this many updates (small forget sets)
    batch_size: int = 64
    bn: str = "train"  # BatchNorm running statistics: "train" or "frozen" (eval mode)

    RULES = {
        "remain_weight": non_negative(),
        **named("lr", "momentum", "weight_decay", "epochs", "min_steps", "batch_size"),
        "bn": BN,
    }


@register_method
class RandomLabel(UnlearningMethod):
    """Fine-tune on forget images with random wrong labels, plus remain batches weighted ``remain_weight``."""

    name = "random-label"
    paper = "Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020 (random labels); Hayase et al., Selective Forgetting of Deep Networks at a Finer Level than Samples, 2020"
    Settings = RandomLabelSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s = self.settings
        if data.num_classes < 2:
            raise UserError("random labels need at least two classes")
        if s.remain_weight > 0 and len(split.train_remain) == 0:
            raise UserError("remain_weight > 0 needs remain data, but the remain set is empty; use remain_weight 0")
        shuffle = torch.Generator().manual_seed(seed)
        labels_rng = torch.Generator().manual_seed(seed)
        forget = BatchStream(data, split.train_forget, s.batch_size, device=device, generator=shuffle)
        remain = (
            BatchStream(data, split.train_remain, s.batch_size, device=device, generator=shuffle, images=forget.images)
            if s.remain_weight > 0
            else None
        )
        # one wrong label per forget image, looked up by training index
        fixed = data.train.labels.clone()
        fixed[split.train_forget] = random_wrong_labels(fixed[split.train_forget], data.num_classes, labels_rng)
        fixed = fixed.to(device)
        total = max(s.epochs * forget.steps_per_pass(), s.min_steps)
        opt = make_optimizer(model.parameters(), "torch-sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        model.train(s.bn == "train")
        ce = nn.functional.cross_entropy

        def loss_at(t: int):
            idx = forget.next_index()
            x = batch_input(forget.images, idx, device)
            if s.resample_labels:
                y = random_wrong_labels(forget.labels[idx.to(device)], data.num_classes, labels_rng)
            else:
                y = fixed[idx.to(device)]
            loss = ce(model(x), y)
            if remain is not None:
                xr, yr = next(remain)
                loss = loss + s.remain_weight * ce(model(xr), yr)
            return loss

        run_steps(model, loss_at, total, opt, progress=progress, desc="random-label")
        return model.eval()
