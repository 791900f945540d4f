"""What every model offers: input normalization inside, ``features(x)``, ``classifier``, ``blocks()``.

Models take images in [0,1] pixel space; the dataset's mean/std live in buffers of the model (and so in
its checkpoint), so attacks, noise and distances are all computed on real pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Normalize(nn.Module):
    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Base class: subclasses set ``self.normalize``, ``self.body`` (list of blocks) and ``self.classifier``."""

    normalize: Normalize
    body: nn.Sequential
    classifier: nn.Module
    model_args: dict = {}  # architecture arguments beyond the standard ones (timm models); saved in the sidecar

    def features(self, x: Tensor) -> Tensor:
        """The embedding (B, D) that the head ``classifier`` maps to logits."""
        return self.body(self.normalize(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def blocks(self) -> list[nn.Module]:
        """Blocks with parameters, from input to output; the head is the last. Used by cf-k / eu-k."""
        return [b for b in [*self.body, self.classifier] if any(True for _ in b.parameters())]
