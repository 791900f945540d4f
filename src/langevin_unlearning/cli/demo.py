"""`langevin-unlearn demo`: the whole job on the embedded digits data, in under a minute on a laptop CPU.

Trains the original model and the retrained reference (class 3 left out), unlearns class 3 from the
original with Boundary Shrink and with Langevin unlearning, and scores them as ``compare`` does: the same
table (printed, and results/demo.csv, demo.md, demo.provenance.json) plus results/demo.png, the per-class
accuracy of each model, so ``langevin-unlearn report demo`` shows every section.
"""

from __future__ import annotations

from pathlib import Path

from .common import add_runtime_flags, add_write_flags

HELP = "train, unlearn and evaluate on the bundled digits data, end to end"

DEMO = dict(dataset="digits", model="allcnn", width=0.25, forget="class:3")
DEMO_TRAIN = dict(epochs=12, lr=0.05, batch_size=64)  # the TrainConfig fields: engine.train loads torch
METHODS = ("boundary-shrink", "langevin")
NAME = "demo"  # results/demo.csv, .md, .provenance.json, .png


def add_parser(p) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for the demo's runs (default runs/demo)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    add_runtime_flags(p)
    add_write_flags(p)


def run(args) -> int:
    from ..core.device import resolve_device
    from ..store.locks import all_of, exclusive
    from ..store.paths import check_run_target, prepare_dir

    prepare_dir(args.out, "--out")
    prepare_dir(args.results_dir, "--results-dir")
    for kind in ("original", "retrained"):
        check_run_target(args.out / kind, "--out")
    device = resolve_device(args.device)
    # a rerun replaces the demo's runs and files; two demos at once are refused (or wait)
    with all_of(
        [
            exclusive(args.out, "demo", wait=args.wait, flag="--out"),
            exclusive(args.results_dir / "demo", "demo", wait=args.wait, flag="--results-dir"),
        ]
    ):
        return _demo(args, device)


def _demo(args, device) -> int:
    from ..engine.train import TrainConfig
    from ..experiments.compare import run_compare
    from ..experiments.setup import load_setup
    from ..experiments.training import train_run
    from ..report.compare import console_table, write_compare
    from ..report.plots import per_class_plot

    progress = not args.no_progress
    runs = {"original": args.out / "original", "retrain": args.out / "retrained"}
    for kind, exclude in (("original", False), ("retrain", True)):
        train_run(
            **DEMO,
            cfg=TrainConfig(**DEMO_TRAIN),
            exclude_forget=exclude,
            seed=args.seed,
            device=device,
            out=runs[kind],
            progress=progress,
        )
        print(f"trained {kind} model -> {runs[kind]}")
    setup = load_setup(runs["original"], DEMO["forget"], retrain=runs["retrain"], device=device)
    # the demo is `compare` with two methods: the same rows, files and report sections
    rows = run_compare(
        setup, METHODS, [args.seed], name=NAME, results_dir=args.results_dir, forget=DEMO["forget"], progress=progress
    )
    print(f"\n{setup.split.summary()} (digits, AllCNN width {DEMO['width']}, seed {args.seed})")
    print(console_table(rows, NAME))
    written = write_compare(
        args.results_dir, NAME, rows, setup, [args.seed], command="demo", paths=runs, methods=list(METHODS)
    )
    png = per_class_plot(
        [{"model": r["method"], "per_class_acc": r["per_class_acc"]} for r in rows],
        setup.data.classes,
        args.results_dir / f"{NAME}.png",
        title=f"digits: per-class test accuracy after forgetting {DEMO['forget']}; the target is the retrained model",
        forget_class=setup.split.forget_class,
    )
    print(f"wrote {', '.join(map(str, [args.results_dir / f'{NAME}.csv', *written, png]))}")
    print(f"see it as a page: langevin-unlearn report {NAME} --results-dir {args.results_dir}")
    return 0
