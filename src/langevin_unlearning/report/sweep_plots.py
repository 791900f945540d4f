"""Pictures of a sweep: heatmaps over two settings, and every run's gaps to the retrained model.

``heatmaps``: four panels (forget accuracy, remain accuracy, MIA, distance to retraining), each cell the
mean over seeds, annotated ``mean ± std``; settings other than x and y that vary in the store are averaged
over (the title names them). ``front``: one point per run at (forget gap, remain gap) coloured by
unlearning time, the retrained model at the origin, the Pareto front of (|forget gap|, |remain gap|) ringed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import UserError
from ..experiments.sweeps.grid import fmt_value
from .figures import pyplot, save_png
from .sweep_summary import aggregate, ok_rows, varying

# (metric, panel title, colorbar label, scale to display units, colormap; _r = lower is better)
PANELS = [
    ("forget_acc", "forget accuracy", "test accuracy on the forget set (%)", 100, "viridis"),
    ("remain_acc", "remain accuracy", "test accuracy on the other classes (%)", 100, "viridis"),
    ("mia", "membership attack (MIA)", "attack accuracy on the deleted images (%; 50 = chance)", 100, "magma"),
    ("distance", "distance to retraining", "sqrt(ΔR² + ΔF²) (pp; 0 = retrain)", 100, "viridis_r"),
]


def _sorted_values(values: list) -> list:
    try:
        return sorted(values, key=lambda v: (v is not None, v))
    except TypeError:
        return values


def heatmaps(
    rows: Sequence[dict], x: str, y: str, path: str | Path, *, retrain: dict | None = None, title: str = ""
) -> Path:
    """``heatmaps_figure`` as a PNG file."""
    return save_png(heatmaps_figure(rows, x, y, retrain=retrain, title=title), path)


def heatmaps_figure(rows: Sequence[dict], x: str, y: str, *, retrain: dict | None = None, title: str = ""):
    """The four heatmaps of ``rows`` (stored runs) over settings ``x`` (columns) and ``y`` (rows)."""
    import numpy as np

    rows = ok_rows(rows)
    if not rows:
        raise UserError("the sweep has no finished runs to plot yet")
    for axis in (x, y):
        if axis not in rows[0]["settings"]:
            raise UserError(
                f"{rows[0]['method']} has no setting {axis!r} to plot; the sweep varies: {', '.join(varying(rows)) or 'nothing'}"
            )
    if x == y:
        raise UserError(f"--x and --y are both {x}; pick two different settings")
    xs = _sorted_values(list(dict.fromkeys(r["settings"][x] for r in rows)))
    ys = _sorted_values(list(dict.fromkeys(r["settings"][y] for r in rows)))
    cells = {(g[x], g[y]): g for g in aggregate(rows, [x, y])}
    others = [k for k in varying(rows) if k not in (x, y)]
    seeds = sorted({r["seed"] for r in rows})
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(5.2 + 1.1 * len(xs), 3.0 + 1.4 * len(ys)), squeeze=False)
    for ax, (metric, name, label, scale, cmap) in zip(axes.flat, PANELS):
        mean = np.full((len(ys), len(xs)), np.nan)
        std = np.full_like(mean, np.nan)
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                g = cells.get((xv, yv))
                if g is not None:
                    mean[i, j], std[i, j] = g[metric] * scale, g[f"{metric}_std"] * scale
        ref = retrain.get(metric) if retrain else None
        ref = 0.0 if metric == "distance" and retrain else ref  # the retrained model is at distance 0
        ref = ref * scale if isinstance(ref, (int, float)) else None
        finite = mean[np.isfinite(mean)]
        span = [*finite, *([ref] if ref is not None else [])]  # the colorbar holds every cell and the target
        lo, hi = (min(span), max(span)) if span else (0.0, 1.0)
        if hi - lo < 1.0:  # every cell (nearly) equal: a one-point scale around them, not a colorbar of 1e-6
            lo = max((lo + hi) / 2 - 0.5, 0.0) if lo >= 0 else (lo + hi) / 2 - 0.5  # no negative accuracies
            hi = lo + 1.0
        im = ax.imshow(
            np.ma.masked_invalid(mean),
            cmap=plt.get_cmap(cmap).with_extremes(bad="#dddddd"),
            aspect="auto",
            origin="lower",
            vmin=lo,
            vmax=hi,
        )
        for i in range(len(ys)):
            for j in range(len(xs)):
                if math.isnan(mean[i, j]):
                    ax.text(j, i, "no runs", ha="center", va="center", fontsize=8)
                    continue
                r, g, b, _ = im.cmap(im.norm(mean[i, j]))
                ink = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
                spread = f"\n± {std[i, j]:.1f}" if len(seeds) > 1 else ""  # one seed has no spread to show
                ax.text(j, i, f"{mean[i, j]:.1f}{spread}", ha="center", va="center", fontsize=8, color=ink)
        ax.set_xticks(range(len(xs)), [fmt_value(v) for v in xs])
        ax.set_yticks(range(len(ys)), [fmt_value(v) for v in ys])
        ax.set_xlabel(f"{x} (setting)")
        ax.set_ylabel(f"{y} (setting)")
        ax.set_title(name + (f" (retrain: {ref:.1f})" if ref is not None else ""), fontsize=10)
        bar = fig.colorbar(im, ax=ax)
        bar.set_label(label, fontsize=8)
        if ref is not None:
            bar.ax.axhline(ref, color="red", linewidth=2)  # where the retrained model sits on this scale
    spread = "mean ± std over seeds " + ", ".join(map(str, seeds)) if len(seeds) > 1 else f"one seed ({seeds[0]})"
    note = f"cells: {spread}" + (
        f"; averaged over {', '.join(f'{k} ∈ {{{_values(rows, k)}}}' for k in others)}" if others else ""
    )
    fig.suptitle(
        (title + "\n" if title else "") + note + ("; red line on a colorbar = the retrained model" if retrain else ""),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _values(rows: Sequence[dict], k: str) -> str:
    return ", ".join(fmt_value(v) for v in _sorted_values(list(dict.fromkeys(r["settings"][k] for r in rows))))


def pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (lower is better)."""
    front = []
    for i, (a, b) in enumerate(points):
        if not any((c <= a and d <= b) and (c < a or d < b) for j, (c, d) in enumerate(points) if j != i):
            front.append(i)
    return front


def front(rows: Sequence[dict], path: str | Path, *, original: dict | None = None, title: str = "") -> Path:
    """``front_figure`` as a PNG file."""
    return save_png(front_figure(rows, original=original, title=title), path)


def front_figure(rows: Sequence[dict], *, original: dict | None = None, title: str = ""):
    """Every run at (forget gap, remain gap) in accuracy points, coloured by unlearning time. An original far
    outside the runs is drawn at the plot's edge with its value written beside it, so the runs keep the axes."""
    rows = [
        r
        for r in ok_rows(rows)
        if isinstance(r["metrics"].get("forget_gap"), (int, float))
        and isinstance(r["metrics"].get("remain_gap"), (int, float))
    ]
    if not rows:
        raise UserError("the sweep has no finished runs with forget/remain gaps to plot yet")
    axes_names = varying(rows)
    fx = [100 * r["metrics"]["forget_gap"] for r in rows]
    fy = [100 * r["metrics"]["remain_gap"] for r in rows]
    secs = [r["metrics"].get("unlearn_seconds") or 0.0 for r in rows]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    sc = ax.scatter(fx, fy, c=secs, cmap="plasma", s=36, zorder=3)
    fig.colorbar(sc, ax=ax).set_label("unlearning time per run (s)")
    on_front = pareto([(abs(a), abs(b)) for a, b in zip(fx, fy)])
    ax.scatter(
        [fx[i] for i in on_front],
        [fy[i] for i in on_front],
        s=150,
        facecolors="none",
        edgecolors="red",
        linewidths=1.6,
        zorder=4,
        label="Pareto front of (|forget gap|, |remain gap|)",
    )
    ax.scatter(
        [0], [0], marker="*", s=260, color="green", edgecolors="black", zorder=5, label="retrained model (target)"
    )
    # the axes hold the runs and the target, with a margin
    (x0, x1), (y0, y1) = _padded([*fx, 0.0]), _padded([*fy, 0.0])
    if original and isinstance(original.get("forget_gap"), (int, float)):
        ox, oy = 100 * original["forget_gap"], 100 * original["remain_gap"]
        far = not (x0 - (x1 - x0) <= ox <= x1 + (x1 - x0) and y0 - (y1 - y0) <= oy <= y1 + (y1 - y0))
        if not far:
            (x0, x1), (y0, y1) = _padded([*fx, 0.0, ox]), _padded([*fy, 0.0, oy])
        px, py = min(max(ox, x0), x1), min(max(oy, y0), y1)
        ax.scatter(
            [px],
            [py],
            marker=">" if far else "X",
            s=120,
            color="gray",
            edgecolors="black",
            zorder=5,
            clip_on=False,
            label="original model (before unlearning)" + (", off the axes: drawn at the edge" if far else ""),
        )
        if far:
            ax.annotate(
                f"original at ({ox:.1f}, {oy:.1f}) pp",
                (px, py),
                textcoords="offset points",
                xytext=(-12, -14),
                ha="right",
                fontsize=8,
                color="dimgray",
            )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    labels: dict[tuple[float, float], list[str]] = {}  # runs at the same point share one label
    for i in on_front:
        labels.setdefault((round(fx[i], 6), round(fy[i], 6)), []).append(
            ", ".join(f"{k}={fmt_value(rows[i]['settings'][k])}" for k in axes_names) + f" (seed {rows[i]['seed']})"
        )
    if len(labels) <= 8:
        middle = (x0 + x1) / 2
        for rank, ((px, py), names) in enumerate(sorted(labels.items(), key=lambda kv: kv[0][1])):
            text = "\n".join(names[:2]) + (f"\n+{len(names) - 2} more" if len(names) > 2 else "")
            ax.annotate(  # staggered by rank so neighbouring labels do not stack, joined to their point
                text,
                (px, py),
                textcoords="offset points",
                xytext=(-12 if px > middle else 12, 8 + 14 * (rank % 3)),
                ha="right" if px > middle else "left",
                fontsize=7,
                color="darkred",
                arrowprops=dict(arrowstyle="-", color="darkred", linewidth=0.5),
            )
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.axvline(0, color="gray", linewidth=0.8)
    ax.set_xlabel("forget gap: forget accuracy − retrain's (pp; > 0 = still remembers)")
    ax.set_ylabel("remain gap: remain accuracy − retrain's (pp; < 0 = damage)")
    ax.set_title((title + "\n" if title else "") + f"{len(rows)} runs; each point one (settings, seed)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.25, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _padded(values: list[float], margin: float = 0.08) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = margin * (hi - lo) or 1.0
    return lo - pad, hi + pad


def plot_store(store, x: str, y: str, *, title: str = "") -> list[Path]:
    """Write ``plots/heatmaps_X_vs_Y.png`` and ``plots/front.png`` for a sweep store; return the paths."""
    from ..evaluation.closeness import with_gaps

    rows = store.rows()
    seeds = sorted({r["seed"] for r in ok_rows(rows)})
    retrain = store.reference("retrain")
    original = store.reference("original")
    ref = retrain.get(seeds[0]) if seeds else None
    orig = with_gaps(original[seeds[0]], ref) if seeds and seeds[0] in original and ref else None
    ident = store.identity() or {}
    title = (
        title
        or f"sweep {store.folder.name}: {ident.get('method')} on {ident.get('dataset')}, forget {ident.get('forget')}"
    )
    plots = store.folder / "plots"
    return [
        heatmaps(rows, x, y, plots / f"heatmaps_{x}_vs_{y}.png", retrain=ref, title=title),
        front(rows, plots / "front.png", original=orig, title=title),
    ]
