"""Per-example audit of five unlearning methods on real Fashion-MNIST against a bank of retrained models.

Trains (or reuses) the original model of studies/recipe.py, a bank of 2N retrained models
(N to score against, N more as the noise floor), runs each method N times (seeds 0..N-1) and stores the audit
(OUT.json, every number) and its table (OUT, markdown, generated from OUT.json). Says which method scores best on
per-example forgetting (F) and whether that agrees with `compare`'s `gap` (computed on the same models: seed 0 of each
method vs bank model 0). CPU-sized budgets: one pass for every method (Langevin and Boundary Shrink: one pass over the
forget set, at least 100 updates; salun, eu-k, finetune: one pass over the remain set); `--paper` runs every method
at its defaults.

Each finished method is kept (WORK/fmnist_audit_METHOD/row.json, with the bank, N and settings it was audited with,
beside that run's per-example audit): a rerun reuses it, so invocations with disjoint `--methods` can share the work
(one process per core) and a last one with every method assembles the table without scoring the bank again.
`--report-only` rewrites OUT from OUT.json alone (what the tests check the committed pages with).

    python -m studies.fmnist_audit --tiny                  # dry run of the same pipeline on digits, N = 4 (about two minutes)
    python -m studies.fmnist_audit                         # CPU-sized: AllCNN width 0.25, 28x28, 3 epochs, N = 8
    python -m studies.fmnist_audit --paper                 # GPU: full AllCNN at 32x32, 15 epochs, N = 32
    python -m studies.fmnist_audit --report-only --out docs/results/audit-fmnist.md
    python -m studies.fmnist_audit --forget-class 0 --n 4 --methods langevin,eu-k --variant 'langevin-3-passes=langevin:epochs=3' --variant 'langevin-sigma-1e-3=langevin:sigma=1e-3' --out docs/results/audit-fmnist-class0.md

`--variant NAME=METHOD:K=V;K=V` adds a row of its own: METHOD with those settings on top of the CPU-sized budget
(typed and checked as `sweep --set` does). Variants are for the tuning classes 0 and 2; the page says so when it
audits one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from langevin_unlearning.core.device import resolve_device
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.experiments.audit import Auditor
from langevin_unlearning.experiments.bank import build_bank
from langevin_unlearning.experiments.compare import gap
from langevin_unlearning.experiments.study.run import machine
from langevin_unlearning.experiments.sweeps.grid import parse_grid
from langevin_unlearning.methods import create_method, identity_settings
from langevin_unlearning.report.audit import SUMMARY_COLUMNS, summary_row, write_audit
from langevin_unlearning.report.tables import markdown_table, text_table
from langevin_unlearning.store.atomic import write_json, write_text
from studies.recipe import TUNING_CLASSES, add_page_flags, add_recipe_flags, apply_paper, rewrite_page, train_or_reuse

METHODS = ["langevin", "boundary-shrink", "salun", "eu-k", "finetune"]
COLUMNS = [*SUMMARY_COLUMNS, "forget_conf", "gap", "seconds"]  # forget_conf: shown where a row has it
FLOOR = "retrained vs disjoint retrained"  # the reference row that is the noise floor of F


def finished(folder: Path, key: dict, method: str, settings: dict) -> dict | None:
    """The row an earlier invocation kept for this method, if it audited the same bank, N and settings (compared
    as a study's cell key compares them: a setting at its neutral value does not count)."""
    path = folder / "row.json"
    if not path.is_file():
        return None
    kept = json.loads(path.read_text())
    same = identity_settings(method, kept.get("settings") or {}) == identity_settings(method, settings)
    return kept if all(kept.get(k) == v for k, v in key.items()) and same else None


def columns(rows: list[dict]) -> list[str]:
    """The page's columns: ``forget_conf`` only where some row recorded it."""
    return [c for c in COLUMNS if c != "forget_conf" or any(r.get("forget_conf") is not None for r in rows)]


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``NAME=METHOD:K=V;K=V`` -> (NAME, METHOD, settings), each value typed and checked as `sweep --set` does."""
    name, eq, rest = text.partition("=")
    method, _, assigns = rest.partition(":")
    if not eq or not name.strip() or not method.strip():
        raise SystemExit(
            f"error: --variant {text!r} is not NAME=METHOD:K=V;K=V; write e.g. langevin-3-passes=langevin:epochs=3"
        )
    fixed = [a.strip() for a in assigns.split(";") if a.strip()]
    try:
        return name.strip(), method.strip(), parse_grid(method.strip(), [], fixed).fixed
    except UserError as e:
        raise SystemExit(f"error: --variant {name.strip()}: {e}") from None


def render(result: dict, source: str) -> str:
    """The markdown page of a stored audit (``result``: what main() writes to OUT.json); every number comes from it."""
    rows, refs = result["rows"], result["references"]
    m = result["machine"]
    loads = [r["load_1min"] for r in rows if r.get("load_1min") is not None]
    load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "not recorded"
    threads = sorted({r["threads"] for r in rows if r.get("threads") is not None})
    threads = "-".join(map(str, threads[:: max(len(threads) - 1, 1)])) if threads else "not recorded"
    lines = [
        f"Generated by `python -m studies.fmnist_audit --report-only --out {source}` from `{Path(source).with_suffix('.json').name}`; "
        f"do not edit. Measured by `{result['command']}`.",
        "",
        f"# Per-example audit on {result['dataset_title']}",
        "",
        f"Forget `{result['forget']}`, AllCNN width {result['width']:g} at {result['image_size']}px, {result['epochs']} training "
        f"epochs, N = {result['n']} per side (a bank of {result['bank_size']} retrained models: N to score against, N as the "
        f"noise floor), device {result['device']}; machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}; "
        f"{threads} torch thread(s) per process, 1-minute load average as each method started: {load} "
        f"(the seconds are inflated by what shared the cores). `seconds`: N unlearning runs plus their scoring; `gap`: "
        "`compare`'s gap of seed 0 against bank model 0. What the columns mean: [../audit.md](../audit.md).",
        "",
        markdown_table(rows + refs, columns(rows + refs), digits=3),
        "",
    ]
    said = []  # the verdicts, one paragraph each
    if rows:
        best_f = max(rows, key=lambda r: r["F"])
        best_gap = min(rows, key=lambda r: r["gap"])
        said.append(
            f"Best per-example forgetting (highest F): **{best_f['model']}** (F {best_f['F']:.3f}). Smallest `gap`: "
            f"**{best_gap['model']}** (gap {100 * best_gap['gap']:.2f} pp). "
            + ("They agree." if best_f is best_gap else "They disagree: `gap` does not rank per-example forgetting.")
        )
        by_name = {r["model"]: r for r in rows}
        floor = next((r for r in refs if r["model"] == FLOOR), None)
        if "langevin" in by_name and "eu-k" in by_name and floor is not None:
            lv, eu = by_name["langevin"], by_name["eu-k"]
            said.append(
                f"`langevin`: F {lv['F']:.3f} (95% {lv['F_95']}), {'at or above' if lv['F'] >= eu['F'] else 'below'} "
                f"eu-k's {eu['F']:.3f}, against a floor of {floor['F']:.3f}; {lv['capped']:.0%} of the forget examples at the "
                f"epsilon cap (floor {floor['capped']:.0%})."
            )
        variants = [r for r in rows if r["model"] not in METHODS]
        if variants and "langevin" in by_name:
            said.append(
                "Variants against `langevin`'s row: "
                + "; ".join(
                    f"`{r['model']}` F {r['F']:.3f} ({r['F'] - by_name['langevin']['F']:+.3f}), gap "
                    f"{100 * r['gap']:.2f} pp"
                    for r in variants
                )
                + "."
            )
    if result["dataset_title"] == "Fashion-MNIST" and result["forget"] in {f"class:{k}" for k in TUNING_CLASSES}:
        said.append(
            f"`{result['forget']}` is a tuning class: what this page shows may choose settings, which are then to be "
            "checked on the held-out classes 4 and 8, never here."
        )
    if result["skipped"]:
        said.append(f"Stopped by --budget-seconds: not run: {', '.join(result['skipped'])}.")
    return "\n".join(lines) + "\n" + "\n\n".join(said) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--forget-class", type=int, default=0)
    add_recipe_flags(p)
    p.add_argument("--n", type=int, default=None, help="models per side (default 8; --paper 32; --tiny 4)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=METHOD:K=V;K=V",
        help="one more row: METHOD with these settings on top of the CPU-sized budget (repeatable), "
        "e.g. 'langevin-3-passes=langevin:epochs=3'",
    )
    p.add_argument(
        "--tiny", action="store_true", help="dry run: the same pipeline on the bundled digits set, 3 epochs, N = 4"
    )
    p.add_argument(
        "--budget-seconds", type=float, default=None, help="stop cleanly after this long; the table holds what finished"
    )
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDR", help="train the bank on Ray")
    add_page_flags(p, Path("results/fmnist_audit.md"))
    p.add_argument(
        "--work",
        type=Path,
        default=Path("runs/fmnist_audit"),
        help="finished methods (WORK/fmnist_audit_METHOD/: row.json and the per-example audit)",
    )
    p.add_argument(
        "--cache", type=Path, default=Path("runs/bench_fmnist_audit"), help="trained models (original and bank)"
    )
    args = p.parse_args()
    if rewrite_page(args, render, "audit"):
        return
    variants = [parse_variant(v) for v in args.variant]  # a bad one: one line, before anything trains
    stored = args.out.with_suffix(".json")
    start = time.perf_counter()
    command = "python -m studies.fmnist_audit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
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
    method_of = {name: name for name in names}
    for name, method, extra in variants:
        if name in method_of:
            raise SystemExit(f"error: --variant {name} names a row twice; give each variant its own name")
        names.append(name)
        method_of[name] = method
        settings[name] = {**settings.get(method, {}), **extra}
    key = {"bank": str(bank.path.resolve()), "bank_seeds": bank.seeds[: 2 * n], "n": n, "bootstrap": args.bootstrap}
    done = {
        name: finished(
            args.work / f"fmnist_audit_{name}",
            key,
            method_of[name],
            create_method(method_of[name], **settings.get(name, {})).describe(),
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
    rows, refs, skipped = [], [], []
    for name in names:
        if done[name]:
            rows.append(done[name]["row"])
            refs = refs or done[name]["references"]
            continue
        if args.budget_seconds is not None and time.perf_counter() - start > args.budget_seconds:
            skipped.append(name)
            continue
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        result = auditor.audit(method_of[name], settings.get(name, {}))
        folder = args.work / f"fmnist_audit_{name}"
        write_audit(result, auditor, folder, f"fmnist_audit_{name}")
        # compare's gap on the same seed-0 model vs the bank's model 0 (the one `compare` would use as its target)
        f0 = result["metrics"]
        row = {**summary_row(result), "model": name}
        row["gap"] = gap({k: f0[k]["unlearned"][0] for k in ("forget_acc", "remain_acc", "mia")}, target)
        row["seconds"] = result["seconds"]
        row["load_1min"], row["threads"] = load, torch.get_num_threads()
        rows.append(row)
        refs = [summary_row(r) for r in auditor.references().values()]
        # a finished method is kept: a rerun of the same command (or one with other --methods) reuses it
        write_json(folder / "row.json", {**key, "settings": result["settings"], "row": row, "references": refs})
    where = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    result = {
        "command": command,
        "dataset_title": "Fashion-MNIST" if not args.tiny else "digits (a --tiny dry run, not a measurement)",
        "forget": forget,
        "width": args.width,
        "image_size": args.image_size or (8 if args.tiny else 28),
        "epochs": args.epochs,
        "n": n,
        "bank_size": 2 * n,
        "device": f"{device} ({where})",
        "machine": {k: v for k, v in machine().items() if k != "host"},
        "rows": rows,
        "references": refs,
        "skipped": skipped,
    }
    write_json(stored, result)
    text = render(result, str(args.out))
    write_text(args.out, text)
    print(text_table(rows + refs, columns(rows + refs), digits=3))
    print(f"took {time.perf_counter() - start:.0f} s; wrote {args.out} and {stored}")


if __name__ == "__main__":
    main()
