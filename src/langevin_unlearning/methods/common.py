"""What the methods share beyond the engine's loop: settings checks and random wrong labels."""

from __future__ import annotations

import torch
from torch import Tensor

from ..core.validation import one_of

BN_MODES = ("train", "frozen")  # BatchNorm while unlearning: running statistics updated, or frozen (eval mode)
SCHEDULES = ("constant", "cosine")

# the two choices many methods' settings share; their numbers take the shared rules (validation.named)
BN = one_of(BN_MODES, "bn mode")
SCHEDULE = one_of(SCHEDULES, "schedule")


def random_wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    """A uniformly random label different from each true label (never the true class)."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes
