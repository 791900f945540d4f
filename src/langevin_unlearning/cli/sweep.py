"""`langevin-unlearn sweep`: a grid over any settings of any method, one stored row per (settings, seed)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from .common import add_pair_flags, add_ray_flag, add_write_flags

HELP = (
    "run a grid of settings x seeds of one method from one original/retrained pair (resumable; --ray for many workers)"
)


def add_parser(p) -> None:
    add_pair_flags(p)
    p.add_argument("--method", default="langevin", help="any registered method (see docs/methods.md)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a setting and its values (repeatable), e.g. --grid gamma=0,1e-4,1e-2",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting held fixed (repeatable), e.g. --set epochs=5",
    )
    p.add_argument("--seeds", type=int, default=None, help="seeds per settings (default 1)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default 0)")
    p.add_argument(
        "--objective",
        choices=["gap", "audit"],
        default="gap",
        help="gap: one row per (settings, seed), gaps to the retrained model (default); audit: per grid point, "
        "a per-example audit against --bank (F, LiRA AUC, remain F) beside the runs' mean gap",
    )
    p.add_argument("--bank", type=Path, default=None, help="with --objective audit: a folder written by `bank`")
    p.add_argument(
        "--audit-n",
        type=int,
        default=None,
        help="with --objective audit: runs per grid point (seeds 0..N-1) and bank models (default 4)",
    )
    p.add_argument("--name", required=True, help="the store: results/NAME/sweep.sqlite (rerun to resume)")
    add_ray_flag(p)
    p.add_argument("--num-cpus", type=int, default=None, help="with a local Ray: CPUs it may use (default all)")
    p.add_argument(
        "--gpu-fraction", type=float, default=0.25, help="with Ray on GPUs: share of a GPU per run (default 0.25)"
    )
    p.add_argument(
        "--plot", default=None, metavar="X,Y", help="also draw the heatmaps over settings X and Y (see sweep-plot)"
    )
    p.add_argument(
        "--budget-seconds",
        type=float,
        default=None,
        help="stop after the first run that ends past this budget (resume later)",
    )
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (each Ray worker resolves auto itself)")
    p.add_argument("--no-progress", action="store_true")
    add_write_flags(p)


def parse_xy(text: str) -> tuple[str, str]:
    parts = [t.strip().replace("-", "_") for t in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UserError(f"--plot {text!r} is not X,Y; write e.g. --plot gamma,lamda")
    return parts[0], parts[1]


def print_summary(store) -> None:
    from ..report.sweep_summary import (
        agreement_line,
        best_audit,
        closest_line,
        summary_references,
        summary_table,
        varying,
    )

    rows, audits = store.rows(), store.audit_rows()
    print(summary_table(rows, summary_references(store, rows), audits=audits))
    axes = varying([r for r in rows + audits if not r.get("error")])
    closest = closest_line(rows, axes)
    if closest:
        print(closest)
    audited = best_audit(audits)
    if audited is not None and axes:
        print(
            "highest audit F: "
            + ", ".join(f"{k}={audited['settings'].get(k)}" for k in axes)
            + f" (F {audited['metrics']['F']:.3f}, mean Avg. Gap {audited['metrics'].get('avg_gap', float('nan')):.2f} pp)"
        )
    line = agreement_line(audits, axes)
    if line:
        print(line)


def run(args) -> int:
    from ..experiments.sweeps.executors import make_executor
    from ..experiments.sweeps.grid import parse_grid, setting_types
    from ..experiments.sweeps.run import SweepSpec, check_objective
    from ..store.locks import exclusive
    from ..store.paths import check_name

    check_name(args.name)
    if args.objective == "audit":
        for flag, value in (("--seeds", args.seeds), ("--seed", args.seed)):
            if value is not None:
                raise UserError(
                    f"{flag} does not apply to --objective audit (each grid point runs seeds 0..N-1); set --audit-n N instead"
                )
    elif args.audit_n is not None:
        raise UserError("--audit-n is read only by --objective audit; add --objective audit or drop --audit-n")
    seeds, first = (1 if args.seeds is None else args.seeds), (0 if args.seed is None else args.seed)
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    xy = parse_xy(args.plot) if args.plot else None
    if xy and args.objective == "audit":
        raise UserError("--plot draws per-seed runs, which --objective audit does not store; drop --plot")
    grid = parse_grid(args.method, args.grid, args.set)
    options = {"gpu_fraction": args.gpu_fraction, **({"num_cpus": args.num_cpus} if args.num_cpus else {})}
    executor = make_executor(args.ray, **options) if args.ray else make_executor(None)
    spec = SweepSpec(
        args.name,
        args.original,
        args.retrain,
        args.forget,
        grid,
        seeds=list(range(first, first + seeds)),
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        device=args.device,
        budget_seconds=args.budget_seconds,
        objective=args.objective,
        bank=args.bank,
        **({"audit_n": args.audit_n} if args.audit_n is not None else {}),
    )
    for axis in xy or ():
        if axis not in setting_types(args.method):
            raise UserError(
                f"--plot: {args.method} has no setting {axis!r}; its settings are: {', '.join(sorted(setting_types(args.method)))}"
            )
    check_objective(spec)  # a wrong bank or --audit-n: one line before anything is written
    # one writer per store: a second sweep of this name is refused (or waits, then resumes what is left)
    with exclusive(args.results_dir / args.name, f"sweep --name {args.name}", wait=args.wait):
        return _sweep(args, spec, executor, grid, xy)


def _sweep(args, spec, executor, grid, xy) -> int:
    from ..experiments.sweeps.run import run_sweep
    from ..report.sweep_plots import plot_store

    report = run_sweep(spec, executor, progress=not args.no_progress)
    what = (
        f"audit of {spec.audit_n} runs per point against {spec.bank}"
        if spec.objective == "audit"
        else f"seeds {spec.seeds}"
    )
    print(f"sweep {args.name}: {grid.describe()}; {what}")
    print_summary(report.store)
    state = (
        f"stopped at the budget, {report.remaining} {'run(s)' if report.unit == 'runs' else 'audit(s)'} left (rerun to resume)"
        if report.stopped_early
        else "complete"
    )
    print(
        f"{report.planned} {report.unit} planned, {report.skipped} already stored, {report.finished} finished now ({report.failed} failed); {state}; store: {report.store.path}"
    )
    if xy:
        for path in plot_store(report.store, *xy):
            print(f"plot: {path}")
    report.store.close()
    return 0
