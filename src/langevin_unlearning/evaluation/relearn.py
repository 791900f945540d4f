"""Relearning: how many fine-tuning steps on a handful of forget images bring the forgotten knowledge back.

A copy of the model is fine-tuned with plain SGD on a small seeded sample of the train forget set
(``fraction`` of it, at least ``min_images``) and after every step its forget accuracy is measured on
the evaluation set: the test forget set, or — when that is empty (indices: specs) — the train forget
images outside the fine-tuning sample. The count is the number of steps until that accuracy reaches
half the ORIGINAL model's forget accuracy (``target``). An original model scores 0; a model retrained
without the forget set needs many steps; an unlearned model that needs far fewer steps than the
retrained one only hid the knowledge.

Fine-tuning runs with the model in eval mode (BatchNorm statistics frozen, no dropout, no augmentation),
so the count measures the weights, not the running statistics of a 16-image batch.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ..core.errors import UserError
from ..data import ForgetSplit, ImageDataset
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from ..engine.predict import accuracy

MAX_STEPS = 200
LR = 0.01
MOMENTUM = 0.9
BATCH_SIZE = 64


def relearn_sample(split: ForgetSplit, *, seed: int = 0, fraction: float = 0.01, min_images: int = 16) -> Tensor:
    """The seeded fine-tuning sample: ``fraction`` of the train forget set, at least ``min_images`` (at most all)."""
    if not 0 < fraction <= 1:
        raise UserError(f"relearn fraction must be in (0, 1], got {fraction}")
    n_forget = len(split.train_forget)
    if n_forget == 0:
        raise UserError("relearning needs a non-empty train forget set")
    n = min(n_forget, max(min_images, math.ceil(fraction * n_forget)))
    g = torch.Generator().manual_seed(seed)
    return split.train_forget[torch.randperm(n_forget, generator=g)[:n]].sort().values


def relearn_eval_set(data: ImageDataset, split: ForgetSplit, sample: Tensor) -> tuple[str, Tensor]:
    """Where forget accuracy is measured: ('test', test forget set), else ('train', train forget minus the sample)."""
    if len(split.test_forget):
        return "test", split.test_forget
    rest = split.train_forget[~torch.isin(split.train_forget, sample)]
    return "train", rest if len(rest) else split.train_forget


def forget_accuracy(
    model: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    *,
    device,
    seed: int = 0,
    fraction: float = 0.01,
    min_images: int = 16,
) -> float:
    """Forget accuracy on the relearning evaluation set: pass the ORIGINAL model's as ``relearn_steps(target=...)``.

    For class: and where: specs with test images this is the usual test forget accuracy.
    """
    where, index = relearn_eval_set(
        data, split, relearn_sample(split, seed=seed, fraction=fraction, min_images=min_images)
    )
    part = data.test if where == "test" else data.train
    return accuracy(model, part.images, part.labels, index, device)


def relearn_steps(
    model: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    *,
    device,
    seed: int = 0,
    fraction: float = 0.01,
    min_images: int = 16,
    max_steps: int = MAX_STEPS,
    lr: float = LR,
    target: float | None = None,
) -> int:
    """SGD steps on a small forget sample until forget accuracy >= ``target / 2``.

    ``target`` is the original model's forget accuracy on the same evaluation set (``forget_accuracy``);
    None (or NaN) means 1.0, i.e. the threshold is 0.5. The model itself is not changed.
    Returns 0 when the model already reaches the threshold, and ``max_steps + 1`` when it never does
    within ``max_steps`` steps (read it as "more than max_steps").
    """
    if max_steps < 0:
        raise UserError(f"relearn max_steps must be >= 0, got {max_steps}")
    if not (lr > 0 and math.isfinite(lr)):
        raise UserError(f"relearn lr must be a positive number, got {lr}")
    threshold = 0.5 * (1.0 if target is None or math.isnan(target) else target)
    sample = relearn_sample(split, seed=seed, fraction=fraction, min_images=min_images)
    where, eval_index = relearn_eval_set(data, split, sample)
    part = data.test if where == "test" else data.train

    def reached(m: nn.Module) -> bool:
        return accuracy(m, part.images, part.labels, eval_index, device) >= threshold

    if reached(model):
        return 0
    net = copy.deepcopy(model).to(device)
    net.eval()  # frozen BatchNorm statistics: the steps change weights only
    opt = make_optimizer(net.parameters(), "torch-sgd", lr=lr, momentum=MOMENTUM)
    g = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.int64)

    def loss_at(_: int) -> Tensor:
        nonlocal order
        if len(order) == 0:
            order = sample[torch.randperm(len(sample), generator=g)]
        idx, order = order[:BATCH_SIZE], order[BATCH_SIZE:]
        x = data.train.images[idx].to(device).float().div_(255)  # as predict sees them: the count measures the weights
        return nn.functional.cross_entropy(net(x), data.train.labels[idx].to(device))

    reached_at = max_steps + 1  # "more than max_steps" unless the threshold is reached

    def stop(done: int) -> bool:
        nonlocal reached_at
        if reached(net):
            reached_at = done
            return True
        return False

    run_steps(net, loss_at, max_steps, opt, progress=False, desc="relearn", stop=stop)
    return reached_at
