"""Per-example audit of five unlearning methods on real Fashion-MNIST against a bank of retrained models.

Trains (or reuses) the original model of studies/recipe.py, a bank of 2N retrained models
(N to score against, N more as the noise floor), runs each method N times (seeds 0..N-1) and writes the audit
table (markdown) with the time it took. Says which method scores best on per-example forgetting (F) and
whether that agrees with `compare`'s `gap` (computed on the same models: seed 0 of each method vs bank model 0).
CPU-sized budgets: one pass for every method (Langevin and Boundary Shrink: one pass over the forget set, at least
100 updates; salun, eu-k, finetune: one pass over the remain set); `--paper` runs every method at its defaults.

Each finished method is kept (results/fmnist_audit_METHOD/row.json, with the bank, N and settings it was audited
with): a rerun reuses it, so invocations with disjoint `--methods` can share the work (one process per core) and a
last one with every method assembles the table without scoring the bank again.

    python -m studies.fmnist_audit --tiny                  # dry run of the same pipeline on digits, N = 4 (about a minute)
    python -m studies.fmnist_audit                         # CPU-sized: AllCNN width 0.25, 28x28, 3 epochs, N = 8
    python -m studies.fmnist_audit --paper                 # GPU: full AllCNN at 32x32, 15 epochs, N = 32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from langevin_unlearning.core.device import resolve_device
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.experiments.audit import Auditor
from langevin_unlearning.experiments.bank import build_bank
from langevin_unlearning.experiments.compare import gap
from langevin_unlearning.methods import create_method
from langevin_unlearning.report.audit import SUMMARY_COLUMNS, summary_row, write_audit
from langevin_unlearning.report.tables import markdown_table, text_table
from langevin_unlearning.store.atomic import write_json, write_text
from studies.recipe import add_recipe_flags, apply_paper, train_or_reuse

METHODS = ["langevin", "boundary-shrink", "salun", "eu-k", "finetune"]


def finished(folder: Path, key: dict, settings: dict) -> dict | None:
    """The row an earlier invocation kept for this method, if it audited the same bank, N and settings."""
    path = folder / "row.json"
    if not path.is_file():
        return None
    kept = json.loads(path.read_text())
    return kept if all(kept.get(k) == v for k, v in key.items()) and kept.get("settings") == settings else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--forget-class", type=int, default=0)
    add_recipe_flags(p)
    p.add_argument("--n", type=int, default=None, help="models per side (default 8; --paper 32; --tiny 4)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument(
        "--tiny", action="store_true", help="dry run: the same pipeline on the bundled digits set, 3 epochs, N = 4"
    )
    p.add_argument(
        "--budget-seconds", type=float, default=None, help="stop cleanly after this long; the table holds what finished"
    )
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDR", help="train the bank on Ray")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/fmnist_audit.md"),
        help="the audit table (markdown); finished methods are kept beside it, in OUT's folder/fmnist_audit_METHOD/",
    )
    p.add_argument(
        "--cache", type=Path, default=Path("runs/bench_fmnist_audit"), help="trained models (original and bank)"
    )
    args = p.parse_args()
    start = time.perf_counter()
    apply_paper(args)
    n = args.n or (32 if args.paper else 4 if args.tiny else 8)
    dataset = "digits" if args.tiny else "fashionmnist"
    if args.tiny:
        args.epochs, args.width, args.lr, args.batch_size, args.forget_class = 3, 0.25, 0.05, 64, 3
    device = resolve_device(args.device)
    tag = f"{dataset}_w{args.width:g}_s{args.image_size or 'native'}_e{args.epochs}_seed{args.seed}"
    forget = f"class:{args.forget_class}"
    original = args.cache / f"original_{tag}"
    train_or_reuse(original, forget=forget, exclude=False, args=args, device=device, dataset=dataset)
    bank = build_bank(
        original,
        forget,
        2 * n,
        out=args.cache / f"bank_{tag}_class{args.forget_class}",
        ray=args.ray,
        device=str(device),
    )
    print(f"bank {bank.path}: {len(bank.seeds)} models, trained {len(bank.trained)} in {bank.seconds:.0f} s")
    # CPU-sized budgets: one pass for every method (Langevin and Boundary Shrink: one pass over the forget set, at least
    # min_steps = 100 updates; the others: one pass over the remain set, as fmnist_compare.py); --paper: every default
    fast = {"epochs": 1} if not args.paper else {}
    settings = {m: dict(fast) for m in METHODS}
    if args.tiny:
        settings = {m: {"epochs": 1, "min_steps": 10} for m in ("langevin", "boundary-shrink", "salun")} | {
            m: {"epochs": 1} for m in ("eu-k", "finetune")
        }
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    key = {"bank": str(bank.path.resolve()), "bank_seeds": bank.seeds[: 2 * n], "n": n, "bootstrap": args.bootstrap}
    done = {
        name: finished(
            args.out.parent / f"fmnist_audit_{name}", key, create_method(name, **settings.get(name, {})).describe()
        )
        for name in names
    }
    auditor = target = None
    if not all(done.values()):  # scoring the bank is itself minutes of work: only when a method is left to run
        auditor = Auditor(
            bank.path,
            n,
            device=device,
            remain_sample=50 if args.tiny else 500,
            bootstrap_rounds=10 if args.tiny else args.bootstrap,
            bootstrap_examples=200 if args.tiny else 1000,
        )
        setup = auditor.setup
        target = {
            "model": "retrain",
            **evaluate(setup.retrain, setup.data, setup.split, reference=setup.retrain, device=device),
        }
    rows, refs, skipped, reused = [], [], [], []
    for name in names:
        if done[name]:
            rows.append(done[name]["row"])
            refs = refs or done[name]["references"]
            reused.append(name)
            continue
        if args.budget_seconds is not None and time.perf_counter() - start > args.budget_seconds:
            skipped.append(name)
            continue
        result = auditor.audit(name, settings.get(name, {}))
        folder = args.out.parent / f"fmnist_audit_{name}"
        write_audit(result, auditor, folder, f"fmnist_audit_{name}")
        # compare's gap on the same seed-0 model vs the bank's model 0 (the one `compare` would use as its target)
        f0 = result["metrics"]
        row = summary_row(result)
        row["gap"] = gap({k: f0[k]["unlearned"][0] for k in ("forget_acc", "remain_acc", "mia")}, target)
        row["seconds"] = result["seconds"]
        rows.append(row)
        refs = [summary_row(r) for r in auditor.references().values()]
        # a finished method is kept: a rerun of the same command (or one with other --methods) reuses it
        write_json(folder / "row.json", {**key, "settings": result["settings"], "row": row, "references": refs})
    columns = [*SUMMARY_COLUMNS, "gap", "seconds"]
    took = time.perf_counter() - start
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    title = (
        f"{'Fashion-MNIST' if not args.tiny else 'digits (--tiny dry run)'}, forget {forget}, AllCNN width {args.width:g} at "
        f"{args.image_size or (8 if args.tiny else 28)}px, {args.epochs} epochs, N = {n} per side (bank of {2 * n}), device {device} ({where}); this invocation took {took:.0f} s "
        f"(bank {bank.seconds:.0f} s)"
        + (f"; reused from earlier invocations: {', '.join(reused)}" if reused else "")
        + "."
    )
    lines = [title, "", markdown_table(rows + refs, columns, digits=3), ""]
    if rows:
        best_f = max(rows, key=lambda r: r["F"])
        best_gap = min(rows, key=lambda r: r["gap"])
        lines.append(
            f"Best per-example forgetting (highest F): **{best_f['model']}** (F {best_f['F']:.3f}). Smallest `gap`: **{best_gap['model']}** "
            f"(gap {best_gap['gap']:.3f}). "
            + ("They agree." if best_f is best_gap else "They disagree: `gap` does not rank per-example forgetting.")
        )
    if skipped:
        lines.append(f"Stopped by --budget-seconds {args.budget_seconds:g}: not run: {', '.join(skipped)}.")
    text = "\n".join(lines) + "\n"
    write_text(args.out, text)
    print(text_table(rows + refs, columns, digits=3))
    print("\n".join(lines[4:]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
