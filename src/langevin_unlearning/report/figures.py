"""The report's own figures, drawn from the numbers a results folder holds, returned as PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

MAX_BARS_MODELS = 6  # more models than this: a heatmap reads better than grouped bars


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _pyplot().close(fig)
    return buf.getvalue()


def per_class_figure(
    per_class: Sequence[tuple[str, Sequence[float]]], classes: Sequence[str], forget_class: int | None = None
) -> bytes:
    """Grouped bars (one group per class, one bar per model), or a heatmap when there are many models."""
    import numpy as np

    plt = _pyplot()
    labels = [m for m, _ in per_class]
    values = np.array([[v if v is not None else math.nan for v in acc] for _, acc in per_class], dtype=float)
    x = np.arange(len(classes))
    ticks = [str(c)[:12] for c in classes]
    rotate = 30 if len(classes) > 10 or max(map(len, ticks), default=0) > 4 else 0
    if len(labels) <= MAX_BARS_MODELS:
        fig, ax = plt.subplots(figsize=(max(6.5, 0.55 * len(classes) * max(1, len(labels) / 2)), 3.6))
        width = 0.8 / max(len(labels), 1)
        for i, (label, row) in enumerate(zip(labels, values)):
            ax.bar(x + (i - (len(labels) - 1) / 2) * width, row, width, label=label)
        ax.set_xticks(x, ticks, rotation=rotate)
        ax.set_ylim(0, 1.3)  # headroom for the legend above the bars
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8, ncol=min(len(labels), 4), loc="upper center", frameon=False)
        if forget_class is not None and 0 <= forget_class < len(classes):
            ax.axvspan(forget_class - 0.45, forget_class + 0.45, color="0.85", zorder=0)
    else:
        fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * len(classes) + 2.5), 0.38 * len(labels) + 1.6))
        image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(x, ticks, rotation=rotate)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
        fig.colorbar(image, ax=ax, label="test accuracy")
    ax.set_xlabel(
        "class"
        + (
            f" (shaded: the forgotten class {classes[forget_class]})"
            if forget_class is not None and len(labels) <= MAX_BARS_MODELS and 0 <= forget_class < len(classes)
            else ""
        )
    )
    ax.set_title("per-class test accuracy")
    fig.tight_layout()
    return _png(fig)


def epsilon_histogram_bytes(groups: dict[str, dict[str, list[float]]]) -> bytes:
    """Per-example epsilon histograms: one panel per method, forget and remain examples overlaid.

    ``groups`` maps panel title -> group (forget/remain) -> epsilons; infinite values are drawn in the last bin.
    """
    import numpy as np

    plt = _pyplot()
    finite = [v for panel in groups.values() for vs in panel.values() for v in vs if math.isfinite(v)]
    top = max(finite, default=1.0) or 1.0
    bins = np.linspace(0, top * 1.0001, 31)
    n = len(groups)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False, sharex=True)
    for ax, (title, panel) in zip(axes.flat, groups.items()):
        for group, vs in sorted(panel.items()):
            clipped = [min(v, top) for v in vs if not math.isnan(v)]
            ax.hist(
                clipped,
                bins=bins,
                alpha=0.55,
                label=f"{group} (n={len(clipped)})",
                color="tab:red" if group == "forget" else "tab:blue",
            )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("per-example epsilon (lower = better forgotten)")
        ax.set_ylabel("examples")
        ax.legend(fontsize=8, frameon=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)
