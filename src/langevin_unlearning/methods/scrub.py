"""SCRUB (Kurmanji et al., NeurIPS 2023): the unlearned model is a student that disobeys its teacher on the forget set.

The student is a copy of the original model; the teacher is the original, frozen. With the KL divergence
at temperature T between their softened outputs, KL_T(teacher || student) (times T^2, as in the SCRUB code),
each epoch runs

  1. in the first ``max_epochs`` epochs only, a *max* pass over the forget set: minimise -KL_T on forget batches;
  2. a *min* pass over the remain set: minimise alpha * KL_T + gamma * CE(student, y) on remain batches,

with one SGD optimizer for both. Defaults are the published small-scale setting (SCRUB code: SGD lr 5e-4,
momentum 0.9, weight decay 5e-4, T 4, alpha 0.001, gamma 0.99, msteps 2 of sgda_epochs 3, forget batches 32,
remain batches 128) plus a floor on the number of updates: on digits (146 forget / 1291 remain images) those
epochs are 43 updates, and the forget accuracy does not move. When the epochs give fewer than ``min_steps``
updates, every pass is repeated by the same factor (so the max/min balance is unchanged); on digits 300 updates
(7 repeats) forget the class, 150 not always. On CIFAR-10 the epochs alone are over 1000 updates and the floor
has no effect. The code's learning-rate decay (at epochs 3, 5, 9) never applies within 3 epochs and is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..core.errors import UserError
from ..core.validation import Validated, at_least, named, non_negative, positive, requires
from ..engine.batches import BatchStream, on_device
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from ..engine.predict import predict_logits
from .base import UnlearningMethod, register_method
from .common import BN

PRESETS = {
    # SCRUB code, small-scale experiments: lr 5e-4, msteps 2, sgda_epochs 3, no floor on the updates
    "paper": dict(
        lr=5e-4,
        momentum=0.9,
        weight_decay=5e-4,
        epochs=3,
        max_epochs=2,
        min_steps=0,
        temperature=4.0,
        alpha=0.001,
        gamma=0.99,
        forget_batch_size=32,
        remain_batch_size=128,
    ),
}


@dataclass
class ScrubSettings(Validated):
    lr: float = 5e-4  # SGD learning rate for max and min steps (SCRUB code)
    momentum: float = 0.9  # SCRUB code
    weight_decay: float = 5e-4  # SCRUB code
    epochs: int = 3  # epochs, each a min pass over the remain set (SCRUB: sgda_epochs 3)
    max_epochs: int = 2  # the first epochs also start with a max pass over the forget set (SCRUB: msteps 2)
    min_steps: int = 300  # at least this many updates in all: passes are repeated on small sets (published: none)
    temperature: float = 4.0  # T of the distillation KL (SCRUB code: kd_T 4)
    alpha: float = 0.001  # weight of KL_T(teacher || student) on remain batches (SCRUB: alpha 0.001)
    gamma: float = 0.99  # weight of the cross-entropy on remain batches (SCRUB: gamma 0.99)
    forget_batch_size: int = 32  # SCRUB code: forget batches of 32 (small-scale)
    remain_batch_size: int = 128  # SCRUB code: remain batches of 128
    bn: str = "train"  # BatchNorm of the student: "train" (as published) or "frozen" statistics

    RULES = {
        **named("lr", "momentum", "weight_decay", "epochs", "min_steps"),
        "max_epochs": at_least(0),
        "temperature": positive(),
        "alpha": non_negative(),
        "gamma": non_negative(),
        "forget_batch_size": at_least(1),
        "remain_batch_size": at_least(1),
        "bn": BN,
    }
    CHECKS = (
        requires(lambda s: s.max_epochs <= s.epochs, "max_epochs must be in [0, epochs={epochs}], got {max_epochs}"),
        requires(
            lambda s: s.alpha > 0 or s.gamma > 0,
            "alpha and gamma are both 0: the min steps would have no loss; make one positive",
        ),
    )


def distill_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """KL(teacher || student) between the outputs softened at ``temperature``, times T^2, averaged over the batch."""
    t = temperature
    log_p_s = (student_logits.float() / t).log_softmax(1)
    p_t = (teacher_logits.float() / t).softmax(1)
    return nn.functional.kl_div(log_p_s, p_t, reduction="batchmean") * t * t


TABLE_BYTES = 1 << 30  # the teacher's logits for the training split, kept on the device when at most this big


def teacher_table(teacher: nn.Module, data, split, device: torch.device) -> Tensor | None:
    """The teacher's logits for every forget and remain training image, indexed by training index (None when
    the table would pass TABLE_BYTES: the teacher then runs on each batch)."""
    if len(data.train) * data.num_classes * 4 > TABLE_BYTES:
        return None
    images = on_device(data.train.images, device)
    table = torch.zeros(len(data.train), data.num_classes, device=device)
    for index in (split.train_forget, split.train_remain):
        if len(index):
            table[index.to(device)] = predict_logits(teacher, images, index, device).to(device)
    return table


def schedule(s: ScrubSettings, forget_steps: int, remain_steps: int) -> list[bool]:
    """The order of the updates: True for a max step (forget batch), False for a min step (remain batch)."""
    plan: list[bool] = []
    for epoch in range(s.epochs):
        if epoch < s.max_epochs:
            plan += [True] * forget_steps
        plan += [False] * remain_steps
    return plan


@register_method
class Scrub(UnlearningMethod):
    name = "scrub"
    paper = "Kurmanji et al., Towards Unbounded Machine Unlearning (SCRUB), NeurIPS 2023"
    Settings = ScrubSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s: ScrubSettings = self.settings
        if len(split.train_remain) == 0:
            raise UserError("scrub needs remain data for its min steps, but the remain set is empty")
        shuffle = torch.Generator().manual_seed(seed)
        forget = BatchStream(data, split.train_forget, s.forget_batch_size, device=device, generator=shuffle)
        remain = BatchStream(
            data, split.train_remain, s.remain_batch_size, device=device, generator=shuffle, images=forget.images
        )
        f_steps, r_steps = forget.steps_per_pass(), remain.steps_per_pass()
        natural = s.epochs * r_steps + s.max_epochs * f_steps
        repeat = max(1, math.ceil(s.min_steps / natural))  # small sets: every pass repeated alike
        plan = schedule(s, f_steps * repeat, r_steps * repeat)
        opt = make_optimizer(model.parameters(), "torch-sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        teacher = original.eval()
        # the teacher is frozen and sees fixed images: its logits, once per image, serve every pass
        table = teacher_table(teacher, data, split, device) if repeat * s.epochs > 1 else None
        model.train(s.bn == "train")

        def loss_at(t: int) -> Tensor:
            stream = forget if plan[t] else remain
            idx = stream.next_index()
            x, y = stream.batch(idx)
            if table is not None:
                teacher_logits = table[idx.to(device)]
            else:
                with torch.no_grad():
                    teacher_logits = teacher(x)
            logits = model(x)
            kl = distill_kl(logits, teacher_logits, s.temperature)
            if plan[t]:
                return -kl
            return s.alpha * kl + s.gamma * nn.functional.cross_entropy(logits, y)

        run_steps(model, loss_at, len(plan), opt, progress=progress, desc="scrub")
        return model.eval()
