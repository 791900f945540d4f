"""Sync-free pieces of a training step: an SGD whose learning rate lives on the device, and a loss watch
that finds the first NaN/inf step on the device and is read once per pass.

Both work the same on the CPU and on CUDA, eagerly or inside a captured CUDA graph (see capture.py).
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import Tensor, nn

from ..core.errors import UserError

NEVER = 2**62  # "no bad step yet"


class DeviceSGD:
    """``torch.optim.SGD``'s update (momentum, weight decay; no dampening or Nesterov) with the learning rate
    a 0-d device tensor, so a schedule is a device op and nothing in ``step`` reads the host:

        d = g + wd * p;   v = momentum * v + d;   p = p - lr * v

    Gradient and momentum buffers are allocated once, up front, and zeroed in place (never set to None),
    so their addresses stay fixed: what a captured CUDA graph needs."""

    def __init__(self, params: Iterable[nn.Parameter], *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, device: torch.device | None = None):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("DeviceSGD needs at least one trainable parameter")
        device = device or self.params[0].device
        self.base_lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.lr = torch.tensor(float(lr), dtype=torch.float32, device=device)
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self.grads = [p.grad for p in self.params]
        self.bufs = [torch.zeros_like(p) for p in self.params] if self.momentum else []

    def zero_grad(self) -> None:
        torch._foreach_zero_(self.grads)

    @torch.no_grad()
    def step(self) -> None:
        d = self.grads
        if self.weight_decay:
            d = torch._foreach_add(self.grads, self.params, alpha=self.weight_decay)
        if self.momentum:
            torch._foreach_mul_(self.bufs, self.momentum)
            torch._foreach_add_(self.bufs, d)
            d = self.bufs
        torch._foreach_sub_(self.params, torch._foreach_mul(d, self.lr))

    def release(self) -> None:
        """Leave no gradients behind on the model (after the loop)."""
        for p in self.params:
            p.grad = None


class DeviceAdamW(DeviceSGD):
    """torch's AdamW driven the same way: a device-tensor learning rate, gradients allocated once and zeroed
    in place. On CUDA the update is ``capturable`` (graph-safe); on the CPU it is the single-tensor loop,
    the form that accepts a tensor learning rate there."""

    def __init__(self, params: Iterable[nn.Parameter], *, lr: float, weight_decay: float = 0.0, device: torch.device | None = None):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=0.0, device=device)
        cuda = self.lr.device.type == "cuda"
        self.adamw = torch.optim.AdamW(self.params, lr=self.lr, weight_decay=weight_decay, capturable=cuda, foreach=cuda)

    @torch.no_grad()
    def step(self) -> None:
        self.adamw.step()


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
            raise UserError(f"loss became NaN/inf at {where} step {int(first_bad) + 1} (checked steps {begin + 1}-{steps_done}); {fix}")
        self.total.zero_()
        return total / max(steps_done - begin, 1)
