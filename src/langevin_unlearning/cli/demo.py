"""`langevin-unlearn demo`: the whole job on the embedded digits data, in about a minute on a laptop CPU."""

from __future__ import annotations

from pathlib import Path

from ..device import resolve_device
from ..evaluation.table import text_table
from ..runs import train_run
from ..training import TrainConfig

HELP = "train original and retrained models on digits and compare them"

DEMO = dict(dataset="digits", model="allcnn", width=0.25, forget="class:3")
DEMO_TRAIN = TrainConfig(epochs=12, lr=0.05, batch_size=64)


def add_parser(p) -> None:
    p.add_argument("--out", default="runs/demo", help="folder for the demo's runs (default runs/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    device = resolve_device(args.device)
    out = Path(args.out)
    rows = []
    for kind, exclude in (("original", False), ("retrained", True)):
        _, meta, _ = train_run(**DEMO, cfg=DEMO_TRAIN, exclude_forget=exclude, seed=args.seed, device=device, out=out / kind, progress=not args.no_progress)
        acc = meta["accuracy"]
        rows.append({"model": kind, "test_acc": acc["test_acc"], "forget_acc": acc["forget_acc"], "remain_acc": acc["remain_acc"], "train_seconds": meta["train_seconds"]})
        print(f"trained {kind} model -> {out / kind}")
    print(f"\ndigits, forget {DEMO['forget']} (test accuracies)")
    print(text_table(rows))
    return 0
