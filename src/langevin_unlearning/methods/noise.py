"""Noise laws for the Langevin term ``gamma * z``. Each has location 0 and scale 1:

normal    N(0, 1)              std 1
laplace   Laplace(0, b=1)      mean |z| = 1
cauchy    Cauchy(0, 1)         median |z| = 1 (no mean: heavy tails)
uniform   U(-1, 1)             max |z| = 1
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..core.registry import Registry

NOISE: Registry[Callable[[tuple, torch.Generator, torch.device], Tensor]] = Registry("noise law")


@NOISE.register("normal")
def normal(shape, generator, device) -> Tensor:
    return torch.randn(shape, generator=generator, device=device)


@NOISE.register("laplace")
def laplace(shape, generator, device) -> Tensor:
    # difference of two unit exponentials is Laplace(0, 1)
    e = torch.empty((2, *shape), device=device).exponential_(1.0, generator=generator)
    return e[0] - e[1]


@NOISE.register("cauchy")
def cauchy(shape, generator, device) -> Tensor:
    return torch.empty(shape, device=device).cauchy_(0.0, 1.0, generator=generator)


@NOISE.register("uniform")
def uniform(shape, generator, device) -> Tensor:
    return torch.rand(shape, generator=generator, device=device).mul_(2).sub_(1)


def sample_noise(law: str, shape, generator: torch.Generator, device) -> Tensor:
    return NOISE.get(law)(tuple(shape), generator, device)
