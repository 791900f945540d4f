"""What the methods share beyond the engine's loop: settings checks and random wrong labels."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..core.errors import UserError
from ..core.validation import field_checks


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


def random_wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    """A uniformly random label different from each true label (never the true class)."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes
