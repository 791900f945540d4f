"""`langevin-unlearn evaluate`: every metric for one saved model, optionally against the retrained model."""

from __future__ import annotations

from pathlib import Path

from .common import FORGET_SPECS

HELP = "evaluate a saved model on a forget spec (accuracies, MIA, agreement with a reference)"


def add_parser(p) -> None:
    p.add_argument("--model", required=True, help="run folder to evaluate")
    p.add_argument("--forget", required=True, help=f"forget spec: {FORGET_SPECS}")
    p.add_argument("--reference", default=None, help="run folder of the retrained model")
    p.add_argument(
        "--original",
        default=None,
        help="run folder of the original model (for --analyses: the relearning threshold and its values)",
    )
    p.add_argument(
        "--analyses",
        default="",
        help="relearn,probe (or all): relearning steps and linear-probe accuracy, beside the reference's and original's",
    )
    p.add_argument(
        "--selective",
        action="store_true",
        help="forget/remain accuracies on the training subsets instead of the test split",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def run(args) -> int:
    from ..core.device import resolve_device
    from ..evaluation.analyses import ANALYSIS_COLUMNS, analysis_names
    from ..evaluation.metrics import METRIC_COLUMNS, evaluate
    from ..experiments.setup import analysis_rows, load_setup
    from ..report.tables import text_table
    from ..store.atomic import json_text

    analyses = analysis_names(args.analyses)
    setup = load_setup(
        args.model,
        args.forget,
        retrain=args.reference,
        data_dir=args.data_dir,
        device=resolve_device(args.device),
        selective=args.selective,
        roles=("--model", "--reference"),
        any_model=True,
    )
    metrics = evaluate(
        setup.original,
        setup.data,
        setup.split,
        reference=setup.retrain,
        device=setup.device,
        seed=args.seed,
        selective=args.selective,
    )
    rows = (
        analysis_rows(setup, analyses, label=str(args.model), original=args.original, seed=args.seed)
        if analyses
        else []
    )
    if args.json:
        extra = {"analyses": {r["model"]: {k: r[k] for k in ANALYSIS_COLUMNS if k in r} for r in rows}} if rows else {}
        print(
            json_text(
                {
                    "model": str(args.model),
                    "forget": args.forget,
                    "seed": args.seed,
                    "selective": args.selective,
                    **metrics,
                    **extra,
                }
            ),
            end="",
        )  # NaN -> null
        return 0
    print(
        setup.split.summary()
        + ("; forget/remain accuracies on the training subsets (--selective)" if args.selective else "")
    )
    print(text_table([{"metric": k, "value": metrics[k]} for k in METRIC_COLUMNS if k in metrics]))
    print(
        "per-class test accuracy: "
        + "  ".join(f"{c}:{a:.3f}" for c, a in zip(setup.data.classes, metrics["per_class_acc"]))
    )
    if rows:
        print(text_table(rows, ["model", *(k for k in ANALYSIS_COLUMNS if k in rows[0])]))
    return 0
