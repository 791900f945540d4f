"""Inner loop: push forget images across the frozen original model's decision boundary.

Perturbed sign-gradient ascent on ``CE(f0(x), y) - lamda/2 * |x_n - x0_n|^2``, in the published units:

    x_{t+1} = clip01(Proj_eps(x_t + alpha * sign(g_t - lamda * d_t + gamma * z_t)))

    g_t = grad of the batch-mean CE(f0(x_t), y) w.r.t. the *normalized* input x_n = (x - mean) / std
        = (grad w.r.t. the pixels x) * std
    d_t = x_n - x0_n = (x_t - x0) / std          (the displacement in the same normalized space)

The step, the eps-ball and the clip stay in [0,1] pixel space: sign() is unchanged by the positive
per-channel scale that maps one space onto the other, so only the *balance* between g, lamda and gamma
depends on the units, and these are the units in which the published gamma and lamda were set. The std is
read from the model's ``normalize`` layer (models/base.py); a model without one is taken to see its input
as is (std 1), i.e. its pixel space is its normalized space.

``gamma = lamda = 0`` is the FGSM/PGD step of Boundary Shrink, unchanged by the units. With one step
(K = 1) the lamda term is zero at the start point x_0 = x0, so lamda only matters for K > 1.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .noise import sample_noise


def input_std(model: nn.Module) -> Tensor | float:
    """Per-channel std (1, C, 1, 1) of ``model``'s input normalization; 1.0 for a model without one."""
    std = getattr(getattr(model, "normalize", None), "std", None)
    return std if isinstance(std, Tensor) else 1.0


class SearchDiagnostics:
    """What the search did, summed on the device (no host sync inside the loop; read once by ``summary``).

    ``noise_flip_share``: share of sign entries where the noise changed the step's direction,
    sign(g - lamda d + gamma z) != sign(g - lamda d), pooled over every pixel of every search step and batch.
    ``crossed_share``: share of searched forget images that f0 no longer labels y at x_K (pooled over batches,
    so over every pass: an image searched in 10 passes counts 10 times).
    """

    def __init__(self, device: torch.device | str):
        self.flipped = torch.zeros((), dtype=torch.int64, device=device)
        self.crossed = torch.zeros((), dtype=torch.int64, device=device)
        self.signs = torch.zeros((), dtype=torch.int64, device=device)  # counted on the device too, so that a
        self.images = torch.zeros((), dtype=torch.int64, device=device)  # replayed CUDA graph counts them as well
        self.search: dict = {}  # what the search cost (search_ahead.SearchAhead.summary): images, seconds, memory

    def record_signs(self, direction: Tensor, drift: Tensor | None) -> None:
        """``drift`` = g - lamda d (None when no noise was added: nothing flipped)."""
        if drift is not None:
            self.flipped += torch.count_nonzero(direction.sign() != drift.sign())
        self.signs += direction.numel()

    def record_crossing(self, logits_at_xk: Tensor, y: Tensor) -> None:
        self.crossed += torch.count_nonzero(logits_at_xk.argmax(1) != y)
        self.images += len(y)

    def summary(self) -> dict[str, float]:
        share = lambda count, total: count.item() / total.item() if total.item() else float("nan")  # noqa: E731
        shares = {
            "noise_flip_share": share(self.flipped, self.signs),
            "crossed_share": share(self.crossed, self.images),
        }
        return {**shares, **self.search}


def to_pixel_grid(x: Tensor, x0: Tensor, eps: float) -> Tensor:
    """Round ``x`` to the nearest multiple of 1/255 that lies inside the eps-ball around ``x0`` and in [0,1].

    Needs eps >= 1/255 where x0 is off the grid (the settings check it); a grid ``x0`` always qualifies."""
    lo = ((x0 - eps).clamp(min=0) * 255).ceil()
    hi = ((x0 + eps).clamp(max=1) * 255).floor()
    return torch.min(torch.max((x * 255).round(), lo), hi) / 255


def drift(
    f0: nn.Module, x: Tensor, x0: Tensor, y: Tensor, lamda: float | Tensor = 0.0, *, mean_over: int | None = None
) -> Tensor:
    """g - lamda * d at ``x``: the gradient of ``CE(f0(x), y) - lamda/2 |x_n - x0_n|^2`` (batch-mean CE) with
    respect to the normalized input x_n, returned in the pixel layout of ``x``.

    ``mean_over``: the batch the mean is taken over when ``x`` is a slice of many batches searched together
    (CE summed, then divided by it), so an image's gradient is the one it would have in a batch of that size.
    ``lamda`` may be a tensor: a device scalar (a schedule) or one value per image, shaped (N, 1, 1, 1)."""
    std = input_std(f0)
    x = x.detach().requires_grad_(True)
    logits = f0(x)
    if mean_over is None:
        loss = nn.functional.cross_entropy(logits, y)  # batch mean, as published
    else:
        loss = nn.functional.cross_entropy(logits, y, reduction="sum") / mean_over
    (grad,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        g = grad * std  # chain rule: d/dx_n = std * d/dx
        return g - lamda * (x - x0) / std if isinstance(lamda, Tensor) or lamda else g


def search_step(
    f0: nn.Module,
    x: Tensor,
    x0: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    lamda: float | Tensor = 0.0,
    gamma: float = 0.0,
    z: Tensor | None = None,
    quantize: bool = False,
    mean_over: int | None = None,
    diagnostics: SearchDiagnostics | None = None,
) -> Tensor:
    """One step x_t -> x_{t+1} of the search; ``z`` is this step's noise (used only when ``gamma`` is non-zero)."""
    g_d = drift(f0, x, x0, y, lamda, mean_over=mean_over)
    with torch.no_grad():
        direction = g_d + gamma * z if gamma else g_d
        if diagnostics is not None:
            diagnostics.record_signs(direction, g_d if gamma else None)
        x = x + alpha * direction.sign()
        x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp_(0, 1)
        return to_pixel_grid(x, x0, eps) if quantize else x


def boundary_search(
    f0: nn.Module,
    x0: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    lamda: float | Tensor = 0.0,
    gamma: float = 0.0,
    noise: str = "normal",
    quantize: bool = False,
    generator: torch.Generator | None = None,
    diagnostics: SearchDiagnostics | None = None,
) -> Tensor:
    """Return x_K for one batch: the perturbed ``x0`` (same shape, values in [0,1], |x_K - x0|_inf <= eps)."""
    x = x0.clone()
    for _ in range(steps):
        z = sample_noise(noise, x.shape, generator, x.device) if gamma else None
        x = search_step(
            f0,
            x,
            x0,
            y,
            eps=eps,
            alpha=alpha,
            lamda=lamda,
            gamma=gamma,
            z=z,
            quantize=quantize,
            diagnostics=diagnostics,
        )
    return x.detach()
