"""Inner loop: push forget images across the frozen original model's decision boundary.

Perturbed sign-gradient ascent on ``CE(f0(x), y) - lamda/2 * |x - x0|^2`` in [0,1] pixel space:

    x_{t+1} = clip01(Proj_eps(x_t + alpha * sign(grad_x CE(f0(x_t), y) - lamda * (x_t - x0) + gamma * z_t)))

``gamma = lamda = 0`` is the FGSM/PGD step of Boundary Shrink. With one step (K = 1) the lamda term is zero
at the start point x_0 = x0, so lamda only matters for K > 1.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .noise import sample_noise


def boundary_search(
    f0: nn.Module,
    x0: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    lamda: float = 0.0,
    gamma: float = 0.0,
    noise: str = "normal",
    quantize: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return x_K, the perturbed forget batch (same shape as x0, values in [0,1], |x_K - x0|_inf <= eps)."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        loss = nn.functional.cross_entropy(f0(x), y, reduction="sum")  # sum: per-image gradients, unscaled
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            direction = grad - lamda * (x - x0)
            if gamma:
                direction = direction + gamma * sample_noise(noise, x.shape, generator, x.device)
            x = x + alpha * direction.sign()
            x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp_(0, 1)
            if quantize:  # onto the 8-bit grid, rounding toward x0 so the eps-ball still holds
                x = x0 + torch.trunc((x - x0) * 255) / 255
    return x.detach()
