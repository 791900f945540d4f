"""`langevin-unlearn study NAME`: a declared grid of forget sets x methods x seeds, stored, resumable, reported."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from .common import add_ray_flag, add_write_flags

HELP = "run a study (a shipped name such as fmnist, or a JSON file): every cell stored, resumable, then its report"


def add_parser(p) -> None:
    p.add_argument("study", help="a shipped study (digits, fmnist) or a study JSON file")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="the store: RESULTS_DIR/NAME/study.sqlite")
    p.add_argument("--models-dir", type=Path, default=Path("runs/models"), help="the model cache, keyed by recipe hash")
    p.add_argument("--workers", type=int, default=1, help="local worker processes, one torch thread each (default 1)")
    add_ray_flag(p, "cells")
    p.add_argument(
        "--budget-seconds",
        type=float,
        default=None,
        help="start no cell after this many seconds; the cells in flight finish and are stored (rerun to resume)",
    )
    p.add_argument("--report-only", action="store_true", help="only write the report from what the store holds")
    p.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also write the results section of this README (between its study markers)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing: exit 1 if the report (and --readme section) differ from what the store generates",
    )
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    add_write_flags(p)


def run(args) -> int:
    from ..experiments.study import load_study
    from ..store.locks import exclusive

    study = load_study(args.study)
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    folder = args.results_dir / study.name
    if args.check:
        return _check(study, folder, args.readme)
    with exclusive(folder, f"study {study.name}", wait=args.wait, flag="--results-dir"):
        if not args.report_only:
            _run(args, study)
        return _report(study, folder, args.readme)


def _run(args, study) -> None:
    from ..experiments.study import run_study
    from ..experiments.sweeps.executors import make_executor

    executor = make_executor(args.ray, workers=args.workers) if args.ray else make_executor(None, workers=args.workers)
    report = run_study(
        study,
        args.results_dir,
        models=args.models_dir,
        executor=executor,
        workers=args.workers,
        budget_seconds=args.budget_seconds,
        data_dir=args.data_dir,
        device=args.device,
        progress=not args.no_progress,
    )
    state = (
        f"stopped at the budget, {report.remaining} cell(s) left (rerun to resume)"
        if report.stopped_early
        else "complete"
        if report.remaining == 0
        else f"{report.remaining} cell(s) failed (rerun to retry)"
    )
    print(
        f"study {study.name}: {report.planned} cells, {report.skipped} already stored, {report.finished} finished now "
        f"({report.failed} failed); {state}; store: {report.store.path}"
    )
    report.store.close()


def _report(study, folder: Path, readme: Path | None) -> int:
    from ..report.study import write_report

    for path in write_report(study, folder, readme=readme):
        print(f"wrote {path}")
    return 0


def _check(study, folder: Path, readme: Path | None) -> int:
    from ..report.study import stale_files

    stale = stale_files(study, folder, readme=readme)
    for path in stale:
        print(f"out of date: {path} (regenerate: langevin-unlearn study {study.name} --report-only)")
    if not stale:
        print(f"{folder}: the report matches the store")
    return 1 if stale else 0
