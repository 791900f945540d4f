"""The optimizers the loops use, made by one factory from a kind name.

    sgd         DeviceSGD: torch's SGD update with the learning rate a device tensor (sync-free, graph-safe)
    adamw       DeviceAdamW: torch's AdamW driven the same way (vision transformers need it)
    torch-sgd   torch.optim.SGD itself
    torch-adam  torch.optim.Adam itself

The torch-* kinds exist because the same arithmetic with a tensor learning rate is not bit-identical to
torch's float one: methods whose published numbers came from torch's optimizers keep them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..core.registry import Registry


class DeviceSGD:
    """``torch.optim.SGD``'s update (momentum, weight decay; no dampening or Nesterov) with the learning rate
    a 0-d device tensor, so a schedule is a device op and nothing in ``step`` reads the host:

        d = g + wd * p;   v = momentum * v + d;   p = p - lr * v

    Gradient and momentum buffers are allocated once, up front, and zeroed in place (never set to None),
    so their addresses stay fixed: what a captured CUDA graph needs."""

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        *,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        device: torch.device | None = None,
    ):
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

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        *,
        lr: float,
        weight_decay: float = 0.0,
        device: torch.device | None = None,
    ):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=0.0, device=device)
        cuda = self.lr.device.type == "cuda"
        self.adamw = torch.optim.AdamW(
            self.params, lr=self.lr, weight_decay=weight_decay, capturable=cuda, foreach=cuda
        )

    @torch.no_grad()
    def step(self) -> None:
        self.adamw.step()


# kind -> factory(params, lr, momentum, weight_decay, device); the Adam kinds have no momentum
OPTIMIZERS: Registry[Callable] = Registry("optimizer")


@OPTIMIZERS.register("sgd")
def _device_sgd(params, lr, momentum, weight_decay, device):
    return DeviceSGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, device=device)


@OPTIMIZERS.register("adamw")
def _device_adamw(params, lr, momentum, weight_decay, device):
    return DeviceAdamW(params, lr=lr, weight_decay=weight_decay, device=device)


@OPTIMIZERS.register("torch-sgd")
def _torch_sgd(params, lr, momentum, weight_decay, device):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@OPTIMIZERS.register("torch-adam")
def _torch_adam(params, lr, momentum, weight_decay, device):
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def make_optimizer(
    params: Iterable[nn.Parameter],
    kind: str,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    device: torch.device | None = None,
):
    """An optimizer of ``kind`` (see the module docstring) over ``params``; an unknown kind is a one-line error."""
    return OPTIMIZERS.get(kind)(params, lr, momentum, weight_decay, device)


class NoisyProjected:
    """Noisy projected gradient descent around any optimizer above: each ``step`` clips the gradient to L2 norm
    ``clip`` (all parameters together), takes the optimizer's step, adds N(0, sigma^2) to every weight and
    projects the weights back into the L2 ball of ``radius`` around ``anchor`` (the starting weights).

    This is stochastic-gradient Langevin dynamics in the weights (sigma = sqrt(2 * lr * T) is temperature T),
    with the clip and the projection of the certified-unlearning analyses (projected noisy gradient descent).
    All device work: no host sync, and the noise comes from ``generator`` (register it with a CUDA graph)."""

    def __init__(
        self,
        optimizer,
        params: Iterable[nn.Parameter],
        *,
        sigma: float = 0.0,
        clip: float | None = None,
        radius: float | None = None,
        generator: torch.Generator | None = None,
    ):
        self.optimizer, self.sigma, self.clip, self.radius, self.generator = optimizer, sigma, clip, radius, generator
        self.params = [p for p in params if p.requires_grad]
        self.anchor = [p.detach().clone() for p in self.params] if radius is not None else []

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    @torch.no_grad()
    def step(self) -> None:
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.clip, foreach=True)
        self.optimizer.step()
        if self.sigma:
            for p in self.params:
                p.add_(torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype), alpha=self.sigma)
        if self.radius is not None:
            offsets = torch._foreach_sub(self.params, self.anchor)
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(offsets)))
            shrink = (self.radius / norm.clamp(min=1e-12)).clamp(max=1.0)  # 1 inside the ball
            torch._foreach_mul_(offsets, shrink)
            torch._foreach_copy_(self.params, torch._foreach_add(self.anchor, offsets))

    def release(self) -> None:
        release = getattr(self.optimizer, "release", None)
        if release is not None:
            release()
