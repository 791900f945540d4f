"""Model registry: ``create_model("allcnn", num_classes=10, in_channels=1, mean=..., std=..., width=0.25)``.

A name with a colon picks a *family* and a variant inside it: ``timm:vit_tiny_patch16_224`` is the
``timm`` family's factory called with ``variant="vit_tiny_patch16_224"``. Families take ``args`` (the
architecture's own keyword arguments, recorded in the checkpoint sidecar) and the input ``image_size``.
"""

from __future__ import annotations

from ..core.errors import UserError
from ..core.registry import Registry
from ..core.validation import check

MODELS: Registry = Registry("model")


def register_model(name: str):
    return MODELS.register(name)


def create_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    mean,
    std,
    width: float = 1.0,
    args: dict | None = None,
    image_size: int | None = None,
):
    """Build a model; ``model.model_args`` holds the ``args`` it was really built with (for the sidecar)."""
    check("width", width)
    family, colon, variant = name.lower().partition(":")
    factory = MODELS.get(family if colon else name.lower())
    common = dict(num_classes=num_classes, in_channels=in_channels, mean=tuple(mean), std=tuple(std), width=width)
    if not colon and args:
        raise UserError(
            f"{name} takes no model arguments ({', '.join(sorted(args))}); only family models such as timm:NAME do"
        )
    try:
        if colon:
            return factory(**common, variant=variant, args=dict(args or {}), image_size=image_size)
        return factory(**common)
    except ValueError as e:
        raise UserError(f"cannot build {name}: {e}") from None
