"""The published composition recipe on Fashion-MNIST, beside its two parents, Langevin and retraining.

Recipe (docs/composition.md): a "good remain" Langevin run (phi 1e-4, soft top-3 labels) and a "good forget"
Langevin run (phi 1e-4, hard labels) unlearn the same class from the same original model; the composed model
takes the good-remain run's features and the good-forget run's head, then is fine-tuned on the remain set
with Adam, lr 1e-4, for up to 5 epochs. Every row (original, retrain, Langevin, both parents, the composed
model after each fine-tuning epoch) gets the same evaluation plus relearning steps and linear-probe
accuracy; the script then states from the numbers what composition buys, or that it buys nothing.

    python -m studies.fmnist_composition --tiny         # dry run on digits, well under a minute
    python -m studies.fmnist_composition                # CPU-sized: AllCNN width 0.25, 28x28, 3 epochs
    python -m studies.fmnist_composition --paper        # full AllCNN, 32x32, 15 epochs (a GPU)

Trained and unlearned runs go to --runs-dir and are reused by later invocations with the same settings. Every
number is stored in OUT.json and the page OUT is generated from it; `--report-only` rewrites OUT from OUT.json alone
(what the tests check the committed pages with).
Not yet measured on a GPU; the --paper run is expected to take roughly 10-20 minutes on one H100
(two 15-epoch trainings, three unlearning runs, 5 fine-tuning epochs, analyses of 10 rows).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from langevin_unlearning.core.device import resolve_device, seed_everything
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.experiments.compare import gap
from langevin_unlearning.experiments.compose import FinetuneSettings, Parent, compose_and_finetune, save_composition
from langevin_unlearning.experiments.setup import Setup, load_setup, save_unlearned, unlearn_and_evaluate
from langevin_unlearning.experiments.study.run import machine
from langevin_unlearning.methods import create_method
from langevin_unlearning.report.tables import markdown_table, text_table
from langevin_unlearning.store.atomic import write_json, write_text
from langevin_unlearning.store.checkpoint import load_checkpoint, read_meta
from studies.recipe import add_page_flags, add_recipe_flags, apply_paper, rewrite_page, train_or_reuse

# the two parents of the published recipe differ only in their labels; everything else is the toolkit's Langevin default
PARENTS = {
    "good-remain": dict(phi=1e-4, soft_labels=True, top_k=3),
    "good-forget": dict(phi=1e-4, soft_labels=False),
}
COLUMNS = [
    "model",
    "forget_acc",
    "remain_acc",
    "test_acc",
    "mia",
    "agreement_with_retrain",
    "gap",
    "relearn_steps",
    "probe_acc",
    "seconds",
]


NOTES = (
    "`gap` = |Δforget| + |Δremain| + |ΔMIA| to the retrained model (lower is better); forget/remain/test are test-set accuracies; "
    "`relearn_steps`: SGD steps on a small forget sample until forget accuracy is back to half the original's (more = removed deeper); "
    "`probe_acc`: linear probe on frozen features recovering the forget class; `seconds`: unlearning time, training time for retrain, "
    "time since composing for the trajectory."
)


class Budget:
    def __init__(self, seconds: float | None):
        self.seconds, self.start, self.skipped = seconds, time.perf_counter(), []

    def left(self) -> bool:
        return self.seconds is None or time.perf_counter() - self.start < self.seconds

    def skip(self, what: str) -> None:
        self.skipped.append(what)
        print(f"over --budget-seconds: skipping {what}")


def analyses_fn(enabled: bool):
    """relearn_steps / probe_accuracy from langevin_unlearning.evaluation (another module); None when off."""
    if not enabled:
        return None
    try:
        from langevin_unlearning.evaluation.probe import probe_accuracy
        from langevin_unlearning.evaluation.relearn import relearn_steps
    except ImportError as e:
        raise SystemExit(
            f"the forgetting analyses are not available in this checkout ({e}); run with --no-analyses or update the package"
        ) from None
    takes_target = "target" in inspect.signature(relearn_steps).parameters

    def analyse(model, setup: Setup, seed: int, original_forget: float) -> dict:
        net = copy.deepcopy(model)  # never let an analysis touch a model that is still being fine-tuned
        extra = {"target": original_forget} if takes_target else {}
        return {
            "relearn_steps": relearn_steps(net, setup.data, setup.split, device=setup.device, seed=seed, **extra),
            "probe_acc": probe_accuracy(net, setup.data, setup.split, device=setup.device, seed=seed),
        }

    return analyse


def unlearn_or_reuse(out: Path, setup: Setup, label: str, settings: dict, seed: int) -> tuple[torch.nn.Module, float]:
    """An unlearning run saved like `langevin-unlearn unlearn` does; reused when the same settings made it from the same original."""
    method = create_method("langevin", **settings)
    if (out / "model.json").is_file():
        meta = read_meta(out)
        if (
            meta.unlearning == method.describe()
            and meta.original_weights_sha256 == setup.original_meta.weights_sha256
            and meta.seed == seed
        ):
            print(f"reusing {out}")
            seconds = (
                json.loads((out / "metrics.json").read_text()).get("unlearn_seconds", math.nan)
                if (out / "metrics.json").is_file()
                else math.nan
            )
            return load_checkpoint(out, device=setup.device)[0], seconds
    print(f"unlearning: {label} ({settings or 'toolkit defaults'})")
    model, metrics = unlearn_and_evaluate(setup, method, seed=seed, progress=True)
    save_unlearned(out, model, setup, method, metrics, seed)
    return model, metrics["unlearn_seconds"]


def verdict(rows: dict[str, dict], final: str, trajectory_rows: list[dict]) -> str:
    """What composition buys, computed from the table: its gap to retrain against the best single run's."""
    singles = {k: rows[k] for k in ("langevin", "good-remain", "good-forget")}
    best_name, best = min(singles.items(), key=lambda kv: kv[1]["gap"])
    comp = rows[final]
    lines = []
    if comp["gap"] < best["gap"]:
        lines.append(
            f"Composition buys a smaller gap to retraining: {100 * comp['gap']:.2f} pp for `{final}` vs {100 * best['gap']:.2f} pp for the best single run (`{best_name}`), "
            f"forget {comp['forget_acc']:.1%} vs {best['forget_acc']:.1%}, remain {comp['remain_acc']:.1%} vs {best['remain_acc']:.1%}."
        )
    else:
        lines.append(
            f"Composition buys nothing here: `{final}` has gap {100 * comp['gap']:.2f} pp to retraining, not below the best single run's "
            f"({best_name}, {100 * best['gap']:.2f} pp)."
        )
    remain_gain = comp["remain_acc"] - rows["good-forget"]["remain_acc"]
    forget_cost = comp["forget_acc"] - rows["good-forget"]["forget_acc"]
    lines.append(
        f"Against its good-forget parent it changes remain accuracy by {100 * remain_gain:+.1f} points and forget accuracy by {100 * forget_cost:+.1f} points."
    )
    if (
        "relearn_steps" in comp
        and isinstance(comp.get("relearn_steps"), (int, float))
        and isinstance(rows["retrain"].get("relearn_steps"), (int, float))
    ):
        steps, ref = comp["relearn_steps"], rows["retrain"]["relearn_steps"]
        why = (
            "its forget accuracy is still above half the original's: nothing to relearn"
            if steps == 0
            else "fewer: the knowledge was hidden, not removed"
            if steps < ref
            else "not fewer than retrain"
        )
        lines.append(f"Relearning: {steps} steps vs {ref} for retrain ({why}).")
    if isinstance(comp.get("probe_acc"), float) and isinstance(rows["retrain"].get("probe_acc"), float):
        lines.append(
            f"Linear probe on the features: {comp['probe_acc']:.1%} vs {rows['retrain']['probe_acc']:.1%} for retrain and {rows['original']['probe_acc']:.1%} for the original."
        )
    if len(trajectory_rows) > 1:
        best_epoch = min(trajectory_rows, key=lambda r: r["gap"])
        lines.append(
            f"Over the fine-tuning trajectory the smallest gap is at `{best_epoch['model']}` ({100 * best_epoch['gap']:.2f} pp; chosen on the test set, so optimistic)."
        )
    return "\n\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--tiny", action="store_true", help="dry run on scikit-learn digits with tiny budgets (proves the script works)"
    )
    p.add_argument("--forget-class", type=int, default=0)
    add_recipe_flags(p)
    p.add_argument(
        "--finetune-epochs", type=int, default=5, help="fine-tuning epochs of the composed model (published: up to 5)"
    )
    p.add_argument("--finetune-lr", type=float, default=1e-4)
    p.add_argument("--no-analyses", action="store_true", help="skip relearning steps and linear probe")
    p.add_argument(
        "--budget-seconds",
        type=float,
        default=None,
        help="stop starting new stages (unlearning runs, fine-tuning, analyses) after this long",
    )
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs/bench_composition"),
        help="trained and unlearned runs, reused when they match",
    )
    add_page_flags(p, Path("results/fmnist_composition.md"))
    args = p.parse_args()
    if rewrite_page(args, render, "composition run"):
        return
    command = "python -m studies.fmnist_composition " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    dataset = "fashionmnist"
    apply_paper(args)
    # CPU-sized: one pass over the forget set per Langevin run, the budget its defaults were tuned at (the study's);
    # --paper: the method's defaults
    unlearn_extra: dict = {} if args.paper else {"epochs": 1}
    if args.tiny:
        dataset, args.epochs, args.batch_size, args.finetune_epochs = "digits", 6, 64, min(args.finetune_epochs, 2)
        unlearn_extra = {"epochs": 1, "min_steps": 15}
    analyse = analyses_fn(not args.no_analyses)
    budget = Budget(args.budget_seconds)
    device = resolve_device(args.device)
    args.forget_spec = f"class:{args.forget_class}"
    tag = f"{dataset}_w{args.width:g}_s{args.image_size or 'native'}_e{args.epochs}_seed{args.seed}"
    root = args.runs_dir / tag
    train_or_reuse(root / "original", forget=args.forget_spec, dataset=dataset, exclude=False, args=args, device=device)
    train_or_reuse(
        root / f"retrain_forget{args.forget_class}",
        forget=args.forget_spec,
        dataset=dataset,
        exclude=True,
        args=args,
        device=device,
    )
    setup = load_setup(
        root / "original", args.forget_spec, retrain=root / f"retrain_forget{args.forget_class}", device=device
    )
    print(setup.split.summary())

    models: dict[str, tuple[torch.nn.Module, float | None]] = {
        "original": (setup.original, None),
        "retrain": (setup.retrain, setup.retrain_meta.train_seconds),
    }
    for label, settings in {"langevin": {}, **PARENTS}.items():
        if not budget.left():
            raise SystemExit(
                f"--budget-seconds {args.budget_seconds} ran out before the {label} run; nothing to compose"
            )
        models[label] = unlearn_or_reuse(
            root / f"{label}_forget{args.forget_class}", setup, label, {**settings, **unlearn_extra}, args.seed
        )

    target = evaluate(setup.retrain, setup.data, setup.split, reference=setup.retrain, device=device, seed=args.seed)
    original_forget = evaluate(setup.original, setup.data, setup.split, device=device, seed=args.seed)["forget_acc"]

    def score(label: str, model, seconds=None) -> dict:
        row = {
            "model": label,
            **evaluate(model, setup.data, setup.split, reference=setup.retrain, device=device, seed=args.seed),
            "seconds": seconds,
        }
        row["gap"] = gap(row, target)
        if analyse is not None:
            if budget.left():
                row.update(analyse(model, setup, args.seed, original_forget))
            else:
                budget.skip(f"analyses of {label}")
        return row

    rows = {label: score(label, model, seconds) for label, (model, seconds) in models.items()}

    s = FinetuneSettings(epochs=args.finetune_epochs if budget.left() else 0, optimizer="adam", lr=args.finetune_lr)
    if s.epochs < args.finetune_epochs:
        budget.skip("fine-tuning the composed model")
    features = Parent(
        root / f"good-remain_forget{args.forget_class}",
        *load_checkpoint(root / f"good-remain_forget{args.forget_class}", device=device),
    )
    head = Parent(
        root / f"good-forget_forget{args.forget_class}",
        *load_checkpoint(root / f"good-forget_forget{args.forget_class}", device=device),
    )
    trajectory_rows: list[dict] = []
    start = time.perf_counter()

    def on_epoch(epoch: int, model) -> dict:
        trajectory_rows.append(score(f"composed, epoch {epoch}", model, round(time.perf_counter() - start, 2)))
        return {}

    seed_everything(args.seed)
    comp = compose_and_finetune(
        features, head, setup.data, setup.split, s, device=device, seed=args.seed, progress=True, on_epoch=on_epoch
    )
    final = trajectory_rows[-1]
    save_composition(
        root / f"composed_forget{args.forget_class}_ft{s.epochs}",
        comp,
        features,
        head,
        s,
        forget=args.forget_spec,
        forget_seed=setup.split_seed,
        seed=args.seed,
        metrics={k: v for k, v in final.items() if k != "model"},
    )
    for r in trajectory_rows:
        rows[r["model"]] = r

    where = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    budget_note = (
        f"every Langevin run at its defaults but {', '.join(f'{k} {v}' for k, v in unlearn_extra.items())}"
        if unlearn_extra
        else "every Langevin run at the method's defaults"
    )
    result = {
        "command": command,
        "title": (
            f"{'DRY RUN on digits (--tiny): ' if args.tiny else ''}{dataset}, forget {args.forget_spec}, AllCNN width {args.width:g} at "
            f"{args.image_size or 'native size'}, {args.epochs} training epochs, seed {args.seed}, device {device} ({where}), "
            f"{budget_note}; composed = good-remain features + good-forget head, fine-tuned with Adam lr {s.lr:g} on the remain set"
        ),
        "dataset": dataset,
        "machine": {k: v for k, v in machine().items() if k != "host"},
        "threads": torch.get_num_threads(),
        "load_1min": load,
        "rows": [{k: v for k, v in r.items() if k != "per_class_acc"} for r in rows.values()],
        "trajectory": [r["model"] for r in trajectory_rows],
        "skipped": budget.skipped,
    }
    stored = args.out.with_suffix(".json")
    write_json(stored, result)
    write_text(args.out, render(result, str(args.out)))
    columns = [c for c in COLUMNS if any(c in r for r in result["rows"])]
    print(text_table(result["rows"], columns))
    print(f"wrote {args.out} and {stored}")


def render(result: dict, source: str) -> str:
    """The markdown page of a stored composition run (``result``: what main() writes to OUT.json)."""
    rows = {r["model"]: r for r in result["rows"]}
    trajectory = [rows[name] for name in result["trajectory"]]
    columns = [c for c in COLUMNS if any(c in r for r in rows.values())]
    m = result["machine"]
    load = result.get("load_1min")
    text = verdict(rows, result["trajectory"][-1], trajectory)
    skipped = f"\n\nSkipped (over --budget-seconds): {', '.join(result['skipped'])}." if result["skipped"] else ""
    return (
        f"Generated by `python -m studies.fmnist_composition --report-only --out {source}` from "
        f"`{Path(source).with_suffix('.json').name}`; do not edit. Measured by `{result['command']}`.\n\n"
        f"# Composition on {result['dataset']}\n\n{result['title']}. Machine: {m['cpu']}, {m['cores']} cores, torch "
        f"{m['torch']}, {result['threads']} torch thread(s), 1-minute load average at the start "
        f"{'not recorded' if load is None else f'{load:.1f}'} (the seconds are inflated by what shared the cores).\n\n"
        f"{NOTES}\n\n{markdown_table(list(rows.values()), columns)}\n\n{text}{skipped}\n"
    )


if __name__ == "__main__":
    main()
