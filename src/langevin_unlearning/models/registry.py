"""Model registry: ``create_model("allcnn", num_classes=10, in_channels=1, mean=..., std=..., width=0.25)``."""

from __future__ import annotations

from ..errors import UserError
from ..registry import Registry
from ..validation import check

MODELS: Registry = Registry("model")


def register_model(name: str):
    return MODELS.register(name)


def create_model(name: str, *, num_classes: int, in_channels: int, mean, std, width: float = 1.0):
    check("width", width)
    factory = MODELS.get(name.lower())
    try:
        return factory(num_classes=num_classes, in_channels=in_channels, mean=tuple(mean), std=tuple(std), width=width)
    except ValueError as e:
        raise UserError(f"cannot build {name}: {e}") from None
