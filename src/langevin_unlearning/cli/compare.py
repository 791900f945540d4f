"""`langevin-unlearn compare`: every method from the same original model, one table, retrain as target."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from .common import add_pair_flags, add_write_flags

HELP = "run many unlearning methods from one original model and compare them with the retrained model"


def add_parser(p) -> None:
    add_pair_flags(p)
    p.add_argument(
        "--methods", default="all", help="all, none, or a comma-separated list (e.g. langevin,boundary-shrink,finetune)"
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="NAME=RUN,...",
        help="extra rows: already-made models (e.g. compositions) scored the same way",
    )
    p.add_argument("--name", required=True, help="writes results/NAME.csv and results/NAME.md")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="run each method with this many seeds; cells show mean ± the 95%% t-interval half-width; * = the retrained value lies inside it",
    )
    p.add_argument(
        "--analyses",
        default="",
        help="also relearn,probe (or all): relearning steps and linear-probe accuracy per row (slow)",
    )
    p.add_argument(
        "--selective",
        action="store_true",
        help="forget/remain accuracies on the training subsets instead of the test split",
    )
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    add_write_flags(p)


def run(args) -> int:
    from ..core.device import resolve_device
    from ..core.validation import check_seed_range
    from ..evaluation.analyses import analysis_names
    from ..experiments.compare import method_names, model_runs
    from ..experiments.setup import load_setup
    from ..store.locks import exclusive
    from ..store.paths import check_name, prepare_dir
    from ..store.tables import check_table

    check_name(args.name)
    names = method_names(args.methods)
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    check_seed_range(args.seed, args.seeds, "--seed")
    prepare_dir(args.results_dir, "--results-dir")
    check_table(args.results_dir / f"{args.name}.csv", "name")
    seeds = list(range(args.seed, args.seed + args.seeds))
    analyses = analysis_names(args.analyses)
    setup = load_setup(
        args.original,
        args.forget,
        retrain=args.retrain,
        data_dir=args.data_dir,
        device=resolve_device(args.device),
        selective=args.selective,
    )
    print(setup.split.summary())
    models = model_runs(args.models)
    if not names and not models:
        raise UserError("nothing to compare: --methods none needs --models NAME=RUN,...")
    with exclusive(args.results_dir / args.name, f"compare --name {args.name}", wait=args.wait):
        return _compare(args, setup, names, seeds, models, analyses)


def _compare(args, setup, names, seeds, models, analyses) -> int:
    from ..experiments.compare import run_compare
    from ..report.compare import console_table, write_compare

    rows = run_compare(
        setup,
        names,
        seeds,
        name=args.name,
        results_dir=args.results_dir,
        forget=args.forget,
        progress=not args.no_progress,
        models=models,
        analyses=analyses,
        announce=print,
    )
    print(console_table(rows, args.name))
    md, prov = write_compare(
        args.results_dir,
        args.name,
        rows,
        setup,
        seeds,
        command="compare",
        paths={"original": args.original, "retrain": args.retrain},
        methods=names,
        selective=args.selective,
        analyses=bool(analyses),
    )
    print(f"wrote {args.results_dir / f'{args.name}.csv'}, {md} and {prov}")
    return 0
