"""`langevin-unlearn report NAME`: one self-contained HTML page for everything results/ holds about NAME."""

from __future__ import annotations

from pathlib import Path

HELP = "write one self-contained HTML page (tables, plots, provenance) for results/NAME"


def add_parser(p) -> None:
    p.add_argument(
        "name", metavar="NAME", help="the results name: results/NAME.csv, results/NAME/ (compare, sweep, audit, demo)"
    )
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=None, help="the HTML file to write (default results/NAME.html)")


def run(args) -> int:
    from ..report import write_report

    path = write_report(args.name, args.results_dir, args.out)
    print(f"wrote {path}")
    return 0
