"""`langevin-unlearn evaluate`: every metric for one saved model, optionally against the retrained model."""

from __future__ import annotations

from pathlib import Path

from ..device import resolve_device
from ..evaluation.metrics import METRIC_COLUMNS, evaluate
from ..evaluation.table import text_table
from ..experiment import load_setup
from ..io import json_text

HELP = "evaluate a saved model on a forget spec (accuracies, MIA, agreement with a reference)"


def add_parser(p) -> None:
    p.add_argument("--model", required=True, help="run folder to evaluate")
    p.add_argument("--forget", required=True, help="forget spec: class:K, class:K:FRACTION or indices:FILE")
    p.add_argument("--reference", default=None, help="run folder of the retrained model")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def run(args) -> int:
    setup = load_setup(args.model, args.forget, retrain=args.reference, data_dir=args.data_dir, device=resolve_device(args.device), roles=("--model", "--reference"), any_model=True)
    metrics = evaluate(setup.original, setup.data, setup.split, reference=setup.retrain, device=setup.device, seed=args.seed)
    if args.json:
        print(json_text({"model": str(args.model), "forget": args.forget, "seed": args.seed, **metrics}), end="")  # NaN -> null
        return 0
    print(setup.split.summary())
    print(text_table([{"metric": k, "value": metrics[k]} for k in METRIC_COLUMNS if k in metrics]))
    print("per-class test accuracy: " + "  ".join(f"{c}:{a:.3f}" for c, a in zip(setup.data.classes, metrics["per_class_acc"])))
    return 0
