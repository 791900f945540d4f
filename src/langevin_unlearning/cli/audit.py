"""`langevin-unlearn audit`: per-example forgetting quality of a method against a bank of retrained models."""

from __future__ import annotations

from pathlib import Path

from .common import add_write_flags

HELP = (
    "run a method N times and compare, example by example, its models with N retrained ones (challenge epsilon, U-LiRA)"
)


def add_parser(p) -> None:
    p.add_argument("--bank", required=True, type=Path, help="bank folder written by `langevin-unlearn bank`")
    p.add_argument("--method", required=True, help="unlearning method, e.g. langevin, boundary-shrink, finetune")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method setting, e.g. --set gamma=1e-4 (repeatable)",
    )
    p.add_argument(
        "--n",
        type=int,
        required=True,
        help="models per side: the method runs with seeds 0..N-1, against the bank's first N models",
    )
    p.add_argument(
        "--name", required=True, help="writes results/NAME/ (audit.json, audit_examples.csv, audit.md, PNGs)"
    )
    p.add_argument("--remain-sample", type=int, default=200, help="remain examples audited too (default 200)")
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--cap", type=float, default=10.0, help="epsilon of a perfectly separating attack (default 10)")
    p.add_argument(
        "--estimator", choices=["crossfit", "plugin"], default="crossfit", help="see docs/audit.md (default crossfit)"
    )
    p.add_argument("--bootstrap", type=int, default=100, help="bootstrap rounds over models (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the remain sample and the bootstrap")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    add_write_flags(p)


def run(args) -> int:
    from ..core.device import resolve_device
    from ..experiments.audit import Auditor
    from ..experiments.sweeps.grid import parse_grid
    from ..methods import METHODS
    from ..store.locks import exclusive
    from ..store.paths import check_name

    check_name(args.name)
    METHODS.get(args.method)
    # typed by the method's Settings, as `sweep --set` (one parser for both); unknown or invalid settings: one line, before loading anything
    settings = parse_grid(args.method, fixed=args.set).fixed
    auditor = Auditor(
        args.bank,
        args.n,
        device=resolve_device(args.device),
        data_dir=args.data_dir,
        remain_sample=args.remain_sample,
        delta=args.delta,
        cap=args.cap,
        estimator=args.estimator,
        bootstrap_rounds=args.bootstrap,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(auditor.setup.split.summary())
    with exclusive(args.results_dir / args.name, f"audit --name {args.name}", wait=args.wait):
        return _audit(args, auditor, settings)


def _audit(args, auditor, settings) -> int:
    from ..report.audit import CONSOLE_COLUMNS, metrics_rows, summary_row, write_audit
    from ..report.tables import text_table, wrap

    result = auditor.audit(args.method, settings)
    out = args.results_dir / args.name
    files = write_audit(result, auditor, out, args.name)
    table = [summary_row(result)] + [summary_row(r) for r in result["references"].values()]
    print(text_table(table, CONSOLE_COLUMNS, digits=3))
    print(text_table(metrics_rows(result), digits=4))
    print(wrap(f"took {result['seconds']:.1f} s; wrote {', '.join(str(p) for p in files.values())}"))
    return 0
