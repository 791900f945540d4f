"""Pictures of results: per-class test accuracy of each model, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..store.atomic import atomic_write


def per_class_plot(rows: Sequence[dict], classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Grouped bars: one group per class, one bar per model (rows need 'model' and 'per_class_acc')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in rows if r.get("per_class_acc")]
    x = np.arange(len(classes))
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(classes) * max(1, len(rows) / 2)), 3.6))
    for i, r in enumerate(rows):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, r["per_class_acc"], width, label=str(r["model"]))
    ax.set_xticks(
        x,
        [str(c)[:12] for c in classes],
        rotation=30 if len(classes) > 10 or max(map(len, map(str, classes))) > 4 else 0,
    )
    ax.set_ylim(0, 1.3)  # headroom for the legend above the bars
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(len(rows), 6), loc="upper center", frameon=False)
    fig.tight_layout()
    out = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return out
