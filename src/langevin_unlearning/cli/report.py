"""`langevin-unlearn report NAME`: one self-contained HTML page for everything results/ holds about NAME."""

from __future__ import annotations

from pathlib import Path

from .common import add_write_flags

HELP = "write one self-contained HTML page (tables, plots, provenance) for results/NAME"


def add_parser(p) -> None:
    p.add_argument(
        "name", metavar="NAME", help="the results name: results/NAME.csv, results/NAME/ (compare, sweep, audit, demo)"
    )
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=None, help="the HTML file to write (default results/NAME.html)")
    add_write_flags(p)


def run(args) -> int:
    from ..report import write_report
    from ..store.locks import exclusive
    from ..store.paths import check_name

    check_name(args.name, "NAME")
    out = args.out or args.results_dir / f"{args.name}.html"
    with exclusive(out, f"report {args.name}", wait=args.wait, flag="NAME or --out"):
        path = write_report(args.name, args.results_dir, out)
    print(f"wrote {path}")
    return 0
