"""The report's own figures, drawn from the numbers a results folder holds, returned as PNG bytes; and the two
helpers every picture module shares: ``pyplot`` (matplotlib without a display) and ``save_png`` (atomic file)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from ..store.atomic import atomic_write

MAX_BARS_MODELS = 6  # more models than this: a heatmap reads better than grouped bars


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically (cropped to what is drawn) and close it."""
    out = atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    pyplot().close(fig)
    return out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return buf.getvalue()


def per_class_fig(
    per_class: Sequence[tuple[str, Sequence[float]]],
    classes: Sequence[str],
    forget_class: int | None = None,
    title: str = "per-class test accuracy",
):
    """Grouped bars (one group per class, one bar per model), or a heatmap when there are many models; accuracies
    in percent on a fixed [0, 100] axis, the legend outside the bars, the forgotten class shaded."""
    import numpy as np

    plt = pyplot()
    labels = [m for m, _ in per_class]
    values = 100 * np.array([[v if v is not None else math.nan for v in acc] for _, acc in per_class], dtype=float)
    x = np.arange(len(classes))
    ticks = [str(c)[:12] for c in classes]
    rotate = 30 if len(classes) > 10 or max(map(len, ticks), default=0) > 4 else 0
    shaded = forget_class is not None and 0 <= forget_class < len(classes)
    if len(labels) <= MAX_BARS_MODELS:
        fig, ax = plt.subplots(figsize=(max(7.5, 0.55 * len(classes) * max(1, len(labels) / 2) + 2), 3.6))
        width = 0.8 / max(len(labels), 1)
        for i, (label, row) in enumerate(zip(labels, values)):
            at = x + (i - (len(labels) - 1) / 2) * width
            bars = ax.bar(at, row, width, label=label)
            for where in at[row == 0]:  # a zero-height bar would look like a missing one: say it is zero
                ax.text(where, 1.5, "0", ha="center", va="bottom", fontsize=7, color=bars.patches[0].get_facecolor())
        ax.set_xticks(x, ticks, rotation=rotate)
        ax.set_ylim(0, 100)
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="model")
        if shaded:
            ax.axvspan(forget_class - 0.45, forget_class + 0.45, color="0.85", zorder=0)
    else:
        fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * len(classes) + 2.5), 0.38 * len(labels) + 1.6))
        image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.set_xticks(x, ticks, rotation=rotate)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set_ylabel("model")
        fig.colorbar(image, ax=ax, label="test accuracy (%)")
    ax.set_xlabel(
        "class"
        + (
            f" (shaded: the forgotten class {classes[forget_class]})"
            if shaded and len(labels) <= MAX_BARS_MODELS
            else f" (forgotten: {classes[forget_class]})"
            if shaded
            else ""
        )
    )
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def per_class_figure(
    per_class: Sequence[tuple[str, Sequence[float]]],
    classes: Sequence[str],
    forget_class: int | None = None,
    title: str = "per-class test accuracy",
) -> bytes:
    """``per_class_fig`` as PNG bytes (the HTML report embeds it)."""
    return _png(per_class_fig(per_class, classes, forget_class, title=title))


def epsilon_histogram_bytes(groups: dict[str, dict[str, list[float]]]) -> bytes:
    """Per-example epsilon histograms: one panel per method, forget and remain examples overlaid.

    ``groups`` maps panel title -> group (forget/remain) -> epsilons; infinite values are drawn in the last bin.
    """
    import numpy as np

    plt = pyplot()
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
