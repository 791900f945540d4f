"""Building blocks the methods share: endless shuffled batches, and an optimisation loop with checks."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..data import ImageDataset
from ..errors import UserError
from ..training import batch_input, check_finite, on_device
from ..validation import field_checks


BN_MODES = ("train", "frozen")  # BatchNorm while unlearning: running statistics updated, or frozen (eval mode)
SCHEDULES = ("constant", "cosine")

# the usual optimisation settings are checked by validation.RULES (one table for the CLI, training and
# every method); the two choices below are checked here
_RULES = {
    "bn": lambda v: (v in BN_MODES, f"unknown bn mode {v!r}; use one of {', '.join(BN_MODES)}"),
    "schedule": lambda v: (v in SCHEDULES, f"unknown schedule {v!r}; use one of {', '.join(SCHEDULES)}"),
}


def optimizer_checks(settings) -> list[tuple[bool, str]]:
    """(ok, message) for every field (finite floats; lr, momentum, epochs, ... by validation.RULES) and bn/schedule."""
    return [*field_checks(settings), *(rule(getattr(settings, name)) for name, rule in _RULES.items() if hasattr(settings, name))]


def raise_first(checks: Sequence[tuple[bool, str]]) -> None:
    """Raise a one-line ``UserError`` for the first failed check."""
    for ok, message in checks:
        if not ok:
            raise UserError(message)


class BatchStream:
    """Endless (x, y) batches from ``index``: reshuffled each pass, seeded, already on the device in [0,1]."""

    def __init__(self, data: ImageDataset, index: Tensor, batch_size: int, *, device: torch.device, generator: torch.Generator, images=None):
        if len(index) == 0:
            raise ValueError("BatchStream needs a non-empty index")
        self.images = images if images is not None else on_device(data.train.images, device)
        self.labels = data.train.labels.to(device)
        self.index, self.batch_size, self.device, self.generator = index, batch_size, device, generator
        self.order = torch.empty(0, dtype=torch.int64)

    def next_index(self) -> Tensor:
        if len(self.order) == 0:
            self.order = self.index[torch.randperm(len(self.index), generator=self.generator)]
        idx, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return idx

    def __next__(self) -> tuple[Tensor, Tensor]:
        idx = self.next_index()
        return batch_input(self.images, idx, self.device), self.labels[idx.to(self.device)]

    def __iter__(self):
        return self

    def steps_per_pass(self) -> int:
        return -(-len(self.index) // self.batch_size)


def optimise(model: nn.Module, loss_fn: Callable[[int], Tensor], steps: int, optimizer: torch.optim.Optimizer, *, progress: bool, desc: str, params: Iterable[nn.Parameter] | None = None, after_step: Callable[[], None] | None = None) -> nn.Module:
    """``steps`` updates of ``loss_fn(step)``; stops with a one-line error if the loss becomes NaN/inf."""
    for t in tqdm(range(steps), desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        loss = loss_fn(t)
        check_finite(loss, f"at {desc} step {t + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
    return model.eval()


def random_wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    """A uniformly random label different from each true label (never the true class)."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes
