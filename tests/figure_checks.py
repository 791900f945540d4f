"""Mechanical checks of a matplotlib figure as it is drawn: what a reader would trip over, found from matplotlib's
own extents rather than by looking. Each check returns a list of problems (empty = fine), so a test can show all.

- ``check_labels``: every data panel names its x and y axes (or hides both tick sets, as a t-SNE panel does).
- ``check_limits``: no axis limit cuts off a plotted value (bars, scatter points, lines in data units).
- ``check_colorbars``: each colorbar's range contains every cell of the image it explains.
- ``check_legends``: no legend box covers a plotted bar, point or image cell.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle


def _colorbar_axes(fig) -> set:
    found = set()
    for ax in fig.axes:
        for mappable in [*ax.images, *ax.collections]:
            if getattr(mappable, "colorbar", None) is not None:
                found.add(mappable.colorbar.ax)
    return found


def data_axes(fig) -> list:
    bars = _colorbar_axes(fig)
    return [ax for ax in fig.axes if ax not in bars and ax.axison and (ax.patches or ax.collections or ax.images)]


def _bars(ax) -> list[Rectangle]:
    return [p for c in ax.containers for p in c.patches if isinstance(p, Rectangle)]


def _points(ax) -> np.ndarray:
    """Every scatter point of ``ax`` in data coordinates."""
    offsets = [
        np.asarray(c.get_offsets(), dtype=float)
        for c in ax.collections
        if isinstance(c, PathCollection) and len(c.get_offsets())
    ]
    return np.concatenate(offsets) if offsets else np.zeros((0, 2))


def check_labels(fig) -> list[str]:
    problems = []
    for ax in data_axes(fig):
        hidden = not ax.get_xticks().size and not ax.get_yticks().size
        if not hidden and not (ax.get_xlabel().strip() and ax.get_ylabel().strip()):
            problems.append(f"panel {ax.get_title()!r}: x label {ax.get_xlabel()!r}, y label {ax.get_ylabel()!r}")
    return problems


def check_limits(fig) -> list[str]:
    problems = []
    for ax in data_axes(fig):
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        for p in _bars(ax):
            top = p.get_y() + p.get_height()
            if not (y0 <= min(p.get_y(), top) and max(p.get_y(), top) <= y1):
                problems.append(f"panel {ax.get_title()!r}: a bar reaches {top:g}, outside y limits [{y0:g}, {y1:g}]")
        pts = _points(ax)
        pts = pts[np.isfinite(pts).all(axis=1)]
        outside = pts[(pts[:, 0] < x0) | (pts[:, 0] > x1) | (pts[:, 1] < y0) | (pts[:, 1] > y1)]
        if len(outside):
            problems.append(f"panel {ax.get_title()!r}: {len(outside)} point(s) outside the axis limits")
    return problems


def check_colorbars(fig) -> list[str]:
    problems = []
    for ax in fig.axes:
        for image in ax.images:
            if getattr(image, "colorbar", None) is None:
                continue
            cells = np.ma.masked_invalid(np.ma.asarray(image.get_array(), dtype=float)).compressed()
            lo, hi = image.norm.vmin, image.norm.vmax
            if cells.size and (cells.min() < lo - 1e-9 or cells.max() > hi + 1e-9):
                problems.append(
                    f"panel {ax.get_title()!r}: cells span [{cells.min():g}, {cells.max():g}], colorbar [{lo:g}, {hi:g}]"
                )
    return problems


def check_legends(fig) -> list[str]:
    fig.canvas.draw()
    problems = []
    legends = [lg for ax in fig.axes if (lg := ax.get_legend()) is not None] + list(fig.legends)
    for legend in legends:
        box = legend.get_window_extent()
        for ax in data_axes(fig):
            covered = sum(box.overlaps(p.get_window_extent()) for p in _bars(ax) if p.get_height() != 0)
            points = _points(ax)
            for x, y in ax.transData.transform(points) if len(points) else []:
                covered += box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1
            covered += sum(box.overlaps(im.get_window_extent()) for im in ax.images if isinstance(im, AxesImage))
            if covered:
                problems.append(f"the legend covers {covered} plotted item(s) of panel {ax.get_title()!r}")
    return problems


def check_figure(fig) -> list[str]:
    return check_labels(fig) + check_limits(fig) + check_colorbars(fig) + check_legends(fig)
