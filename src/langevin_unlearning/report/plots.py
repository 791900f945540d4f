"""Pictures of results written to disk: per-class test accuracy of each model, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..store.atomic import atomic_write
from .figures import _pyplot, per_class_fig


def per_class_plot(
    rows: Sequence[dict],
    classes: Sequence[str],
    path: str | Path,
    title: str = "",
    forget_class: int | None = None,
) -> Path:
    """``figures.per_class_fig`` as a PNG file (rows need 'model' and 'per_class_acc')."""
    per_class = [(str(r["model"]), r["per_class_acc"]) for r in rows if r.get("per_class_acc")]
    fig = per_class_fig(per_class, classes, forget_class, title=title or "per-class test accuracy")
    out = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    _pyplot().close(fig)
    return out
