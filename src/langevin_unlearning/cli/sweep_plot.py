"""`langevin-unlearn sweep-plot NAME --x gamma --y lamda`: a stored sweep's table, heatmaps and front."""

from __future__ import annotations

from pathlib import Path

from .sweep import print_summary

HELP = "draw a sweep's heatmaps (setting X vs setting Y) and its forget/remain front as PNGs"


def add_parser(p) -> None:
    p.add_argument("name", help="the sweep's --name")
    p.add_argument("--x", required=True, help="setting on the horizontal axis, e.g. gamma")
    p.add_argument("--y", required=True, help="setting on the vertical axis, e.g. lamda")
    p.add_argument("--results-dir", type=Path, default=Path("results"))


def run(args) -> int:
    from ..report.sweep_plots import plot_store
    from ..store.paths import check_name
    from ..store.sweep_store import SweepStore

    check_name(args.name, "NAME")
    store = SweepStore.open(args.results_dir / args.name)
    print_summary(store)
    for path in plot_store(store, args.x.replace("-", "_"), args.y.replace("-", "_")):
        print(f"plot: {path}")
    store.close()
    return 0
