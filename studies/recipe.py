"""The recipe flags and model cache every Fashion-MNIST study shares; run alone, Langevin unlearning vs Boundary Shrink
on real Fashion-MNIST, with the retrained model as the target.

Trains (or reuses) the original and retrained models, unlearns one class with both methods, prints the
evaluation table and checks the goals: forget accuracy at most 2 points above retrain's, remain accuracy
at most 1.5 points below retrain's, MIA within 0.05 of retrain's, unlearning time at most 5% of retraining.

    python -m studies.recipe                 # CPU-sized: AllCNN width 0.25, 28x28, 3 epochs
    python -m studies.recipe --paper         # published: full AllCNN, 32x32, 15 epochs, batch 64, lr 0.01
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from langevin_unlearning.core.device import resolve_device, resolve_precision
from langevin_unlearning.engine.train import TrainConfig
from langevin_unlearning.experiments import Recipe, train_cached
from langevin_unlearning.experiments.setup import Setup, load_setup, reference_rows, unlearn_and_evaluate
from langevin_unlearning.methods import create_method
from langevin_unlearning.report.plots import per_class_plot
from langevin_unlearning.report.tables import text_table
from langevin_unlearning.store.atomic import write_text

# Fashion-MNIST's tuning classes (docs/sweeps.md): settings are chosen on these, reported on others
TUNING_CLASSES = (0, 2)
COLUMNS = [
    "model",
    "forget_acc",
    "remain_acc",
    "test_acc",
    "mia",
    "agreement_with_retrain",
    "js_to_retrain_forget",
    "unlearn_seconds",
    "speedup",
]


def recipe_from_args(args, device, dataset: str = "fashionmnist") -> Recipe:
    """The training recipe the recipe flags describe (the split seed is the run seed, as the studies always used)."""
    cfg = TrainConfig(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, precision=resolve_precision(args.precision, device)
    )
    return Recipe(dataset, cfg=cfg, model="allcnn", width=args.width, image_size=args.image_size, split_seed=args.seed)


def train_or_reuse(
    out: Path, *, forget: str | None, exclude: bool, args, device, dataset: str = "fashionmnist", progress: bool = True
) -> Path:
    """The run folder ``out``, reused when its recorded recipe key matches (experiments/recipes.py), else trained.

    An original model (``exclude`` False) trains on every image whatever ``forget`` says, so it is trained and keyed
    without a forget spec: one folder serves every forget class, as a study's cache does."""
    _, trained = train_cached(
        recipe_from_args(args, device, dataset),
        out,
        forget=forget if exclude else None,
        exclude_forget=exclude,
        seed=args.seed,
        device=device,
        progress=progress,
    )
    print(f"{'trained' if trained else 'reusing'} {out}")
    return out


def goals(row: dict, target: dict) -> dict:
    return {
        "forget <= retrain+2pt": row["forget_acc"] <= target["forget_acc"] + 0.02,
        "remain >= retrain-1.5pt": row["remain_acc"] >= target["remain_acc"] - 0.015,
        "|mia - retrain| <= 0.05": abs(row["mia"] - target["mia"]) <= 0.05,
        "time <= 5% retrain": row["speedup"] >= 20,
    }


def add_recipe_flags(p: argparse.ArgumentParser) -> None:
    """How the original and retrained models are trained: the CPU-sized default, or ``--paper`` (see apply_paper).
    Shared by every Fashion-MNIST benchmark."""
    p.add_argument("--paper", action="store_true", help="full AllCNN at 32x32, 15 epochs, batch 64, lr 0.01 (a GPU)")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--epochs", type=int, default=3, help="training epochs of the original and retrained models")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def apply_paper(args) -> None:
    """``--paper``: the published training recipe (full AllCNN at 32x32, 15 epochs, batch 64, lr 0.01)."""
    if args.paper:
        args.width, args.image_size, args.epochs, args.lr, args.batch_size = 1.0, 32, 15, 0.01, 64


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """Flags that choose the original/retrained pair (shared with fmnist_compare.py)."""
    p.add_argument("--forget-class", type=int, default=0)
    add_recipe_flags(p)
    p.add_argument("--out", type=Path, default=Path("runs/bench_fmnist"), help="cache of trained models")


def prepare(args) -> tuple[Setup, str]:
    """Train (or reuse) the original and retrained models that ``args`` describe; return the setup and a tag."""
    apply_paper(args)
    args.forget_spec = f"class:{args.forget_class}"
    device = resolve_device(args.device)
    tag = f"w{args.width:g}_s{args.image_size or 28}_e{args.epochs}_seed{args.seed}"
    original, retrained = args.out / f"original_{tag}", args.out / f"retrain_{tag}_forget{args.forget_class}"
    train_or_reuse(original, forget=args.forget_spec, exclude=False, args=args, device=device)
    train_or_reuse(retrained, forget=args.forget_spec, exclude=True, args=args, device=device)
    return load_setup(original, args.forget_spec, retrain=retrained, device=device), tag


def describe(args, setup: Setup) -> str:
    device = setup.device
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return f"Fashion-MNIST, forget {args.forget_spec}, AllCNN width {args.width:g} at {args.image_size or 28}px, {args.epochs} training epochs, device {device} ({where})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.add_argument("--unlearn-epochs", type=int, default=None, help="passes over the forget set (method default: 10)")
    p.add_argument("--gamma", type=float, default=1e-4)
    args = p.parse_args()
    setup, tag = prepare(args)
    rows = reference_rows(setup, args.seed)
    extra = {} if args.unlearn_epochs is None else {"epochs": args.unlearn_epochs}
    for label, method in (
        ("boundary-shrink", create_method("boundary-shrink", **extra)),
        (f"langevin (gamma {args.gamma:g})", create_method("langevin", gamma=args.gamma, **extra)),
    ):
        _, metrics = unlearn_and_evaluate(setup, method, seed=args.seed, progress=True)
        rows.append({"model": label, **metrics})
    print(f"\n{describe(args, setup)}, seed {args.seed}")
    print(text_table(rows, COLUMNS))
    target = rows[1]
    print("\ngoals (retrain is the target):")
    print(
        text_table(
            [{"method": r["model"], **{k: "yes" if v else "NO" for k, v in goals(r, target).items()}} for r in rows[2:]]
        )
    )
    png = per_class_plot(
        rows,
        setup.data.classes,
        Path("results") / f"fmnist_unlearning_{tag}.png",
        title=f"Fashion-MNIST, forget {args.forget_spec}",
    )
    print(f"plot: {png}")


if __name__ == "__main__":
    main()


def add_page_flags(p: argparse.ArgumentParser, default: Path) -> None:
    """A study page's flags: OUT (markdown) generated from OUT.json, which holds every number; --report-only."""
    p.add_argument(
        "--out",
        type=Path,
        default=default,
        help="the page (markdown); every number is stored beside it, in OUT with the suffix .json",
    )
    p.add_argument("--report-only", action="store_true", help="rewrite OUT from OUT.json; train and run nothing")


def rewrite_page(args, render, what: str) -> bool:
    """With --report-only: OUT rewritten from OUT.json by ``render`` (True: nothing else to do)."""
    if not args.report_only:
        return False
    stored = args.out.with_suffix(".json")
    if not stored.is_file():
        raise SystemExit(f"error: no stored {what} at {stored}; run it first, without --report-only")
    write_text(args.out, render(json.loads(stored.read_text()), str(args.out)))
    print(f"wrote {args.out}")
    return True
