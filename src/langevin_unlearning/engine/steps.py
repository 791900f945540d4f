"""Sync-free pieces of a training step: the cosine schedule as a device op, and a loss watch that finds
the first NaN/inf step on the device and is read once per pass (the optimizers are in optim.py).

Both work the same on the CPU and on CUDA, eagerly or inside a captured CUDA graph (see capture.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..core.errors import UserError

NEVER = 2**62  # "no bad step yet"


def cosine_factor(step: Tensor, total: int) -> Tensor:
    """0.5 * (1 + cos(pi * step / total)) on the device (the cosine schedule, without a host scheduler)."""
    return 0.5 * (1 + torch.cos(step.float() * (math.pi / max(total, 1))))


class LossWatch:
    """Per-pass device bookkeeping: the loss sum and the first step (0-based) whose loss was NaN/inf.

    ``add`` is three small device ops; ``check`` reads everything in one transfer and raises the usual
    one-line ``UserError`` naming the bad step and the steps checked."""

    def __init__(self, device: torch.device):
        self.steps = torch.zeros((), dtype=torch.int64, device=device)  # steps done so far (all passes)
        self.total = torch.zeros((), dtype=torch.float32, device=device)  # loss sum since the last check
        self.first_bad = torch.full((), NEVER, dtype=torch.int64, device=device)
        self.checked = 0  # host: steps already checked

    def add(self, loss: Tensor) -> None:
        loss = loss.detach().float()
        self.total.add_(loss)
        torch.minimum(self.first_bad, torch.where(torch.isfinite(loss), NEVER, self.steps), out=self.first_bad)
        self.steps.add_(1)

    def check(self, steps_done: int, where: str, fix: str = "lower the learning rate (--lr)") -> float:
        """Raise if a loss since the start was NaN/inf; return the mean loss since the last check (one sync)."""
        total, first_bad = torch.stack([self.total.double(), self.first_bad.double()]).tolist()
        begin, self.checked = self.checked, steps_done
        if first_bad < NEVER:
            raise UserError(
                f"loss became NaN/inf at {where} step {int(first_bad) + 1} (checked steps {begin + 1}-{steps_done}); {fix}"
            )
        self.total.zero_()
        return total / max(steps_done - begin, 1)
