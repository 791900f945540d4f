"""Pictures of results written to disk: per-class test accuracy of each model, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .figures import per_class_fig, save_png


def per_class_plot(
    rows: Sequence[dict],
    classes: Sequence[str],
    path: str | Path,
    title: str = "",
    forget_class: int | None = None,
) -> Path:
    """``figures.per_class_fig`` as a PNG file (rows need 'model' and 'per_class_acc')."""
    per_class = [(str(r["model"]), r["per_class_acc"]) for r in rows if r.get("per_class_acc")]
    return save_png(per_class_fig(per_class, classes, forget_class, title=title or "per-class test accuracy"), path)
