"""`langevin-unlearn demo`: the whole job on the embedded digits data, in under a minute on a laptop CPU.

Trains the original model and the retrained reference (class 3 left out), unlearns class 3 from the
original with Boundary Shrink and with Langevin unlearning, evaluates all four the same way and prints
the comparison (also written to results/demo.csv and results/demo.png).
"""

from __future__ import annotations

from pathlib import Path

from .common import add_runtime_flags, add_write_flags
from .unlearn import TABLE

HELP = "train, unlearn and evaluate on the bundled digits data, end to end"

DEMO = dict(dataset="digits", model="allcnn", width=0.25, forget="class:3")
DEMO_TRAIN = dict(epochs=12, lr=0.05, batch_size=64)  # the TrainConfig fields: engine.train loads torch


def add_parser(p) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for the demo's runs (default runs/demo)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    add_runtime_flags(p)
    add_write_flags(p)


def run(args) -> int:
    from ..core.device import resolve_device
    from ..store.locks import all_of, exclusive
    from ..store.paths import check_run_target, prepare_dir
    from ..store.tables import check_table

    prepare_dir(args.out, "--out")
    prepare_dir(args.results_dir, "--results-dir")
    check_table(args.results_dir / "demo.csv", "seed")
    for kind in ("original", "retrained"):
        check_run_target(args.out / kind, "--out")
    device = resolve_device(args.device)
    # a rerun replaces the demo's own runs and appends to demo.csv; two demos at once are refused (or wait)
    with all_of(
        [
            exclusive(args.out, "demo", wait=args.wait, flag="--out"),
            exclusive(args.results_dir / "demo", "demo", wait=args.wait, flag="--results-dir"),
        ]
    ):
        return _demo(args, device)


def _demo(args, device) -> int:
    from ..engine.train import TrainConfig
    from ..experiments.setup import append_csv, load_setup, reference_rows, unlearn_and_evaluate
    from ..experiments.training import train_run
    from ..methods import create_method
    from ..report.plots import per_class_plot
    from ..report.tables import text_table

    progress = not args.no_progress
    for kind, exclude in (("original", False), ("retrained", True)):
        train_run(
            **DEMO,
            cfg=TrainConfig(**DEMO_TRAIN),
            exclude_forget=exclude,
            seed=args.seed,
            device=device,
            out=args.out / kind,
            progress=progress,
        )
        print(f"trained {kind} model -> {args.out / kind}")
    setup = load_setup(args.out / "original", DEMO["forget"], retrain=args.out / "retrained", device=device)
    rows = reference_rows(setup, args.seed)
    for name in ("boundary-shrink", "langevin"):
        _, metrics = unlearn_and_evaluate(setup, create_method(name), seed=args.seed, progress=progress)
        rows.append({"model": name, **metrics})
    print(
        f"\n{setup.split.summary()} (digits, AllCNN width 0.25, seed {args.seed}; forget/remain/test are test-set accuracies)"
    )
    print(text_table(rows, TABLE))
    csv = append_csv(
        args.results_dir / "demo.csv",
        [{"seed": args.seed, **{k: v for k, v in r.items() if k != "per_class_acc"}} for r in rows],
    )
    png = per_class_plot(
        rows,
        setup.data.classes,
        args.results_dir / "demo.png",
        title=f"digits: per-class test accuracy after forgetting {DEMO['forget']}",
    )
    print(f"wrote {csv} and {png}")
    return 0
