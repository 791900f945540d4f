"""Two small pages on the bundled digits set, measured at today's defaults and generated from what they store.

    python -m studies.digits_pages analyses --out docs/results/analyses-digits.md   # relearn, probe, t-SNE (~2 min)
    python -m studies.digits_pages sweep --out docs/results/sweep-digits.md         # a 2 x 2 sweep's table (~1 min)
    python -m studies.digits_pages analyses --report-only --out docs/results/analyses-digits.md

`analyses`: trains the original and the retrained model (class 3, AllCNN width 0.25, 10 epochs, lr 0.05), runs
`compare` over four methods at their defaults with three seeds and the relearn and probe analyses, and draws the
t-SNE panels of the original, langevin and the retrained model (OUT with the suffix .png). `sweep`: a gamma x lamda
grid of `langevin` from the same pair, its other settings at their defaults, one pass over the forget set, two seeds.
Every number goes to OUT.json; the page is generated from it (`--report-only` rewrites it, which the tests check).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import torch

import langevin_unlearning as lu
from langevin_unlearning.core.device import resolve_device
from langevin_unlearning.experiments.compare import compare
from langevin_unlearning.experiments.setup import load_setup, timed_unlearn
from langevin_unlearning.experiments.study.run import machine
from langevin_unlearning.experiments.sweeps.grid import parse_grid
from langevin_unlearning.experiments.sweeps.run import SweepSpec, run_sweep
from langevin_unlearning.methods import create_method
from langevin_unlearning.report.embedding import embedding_plot
from langevin_unlearning.report.sweep_summary import cell, closest_line, summary_references, summary_table, varying
from langevin_unlearning.report.tables import markdown_table
from langevin_unlearning.store.atomic import write_json, write_text
from studies.recipe import add_page_flags, rewrite_page

FORGET = "class:3"
RECIPE = dict(width=0.25, epochs=10, lr=0.05)
METHODS = ("langevin", "eu-k", "boundary-shrink", "finetune")
SEEDS = 3
GRID = ("gamma=0,1e-2", "lamda=0,0.1")
SWEEP_SEEDS = [0, 1]
FIXED = ("epochs=1",)  # one pass over the forget set, so min_steps (100 updates) sets the length
COLUMNS = ["model", "forget_acc", "remain_acc", "test_acc", "mia", "gap", "relearn_steps", "probe_acc"]


def pair(runs: Path, device: str) -> tuple[Path, Path]:
    """The original and the retrained model of the page (trained once, reused from ``runs``)."""
    original, retrain = runs / "original", runs / "retrain"
    for path, exclude in ((original, False), (retrain, True)):
        if not (path / "model.safetensors").is_file():
            lu.train("digits", out=path, forget=FORGET, exclude_forget=exclude, device=device, progress=False, **RECIPE)
    return original, retrain


def measure_analyses(runs: Path, out: Path, device: str) -> dict:
    original, retrain = pair(runs, device)
    setup = load_setup(os.fspath(original), FORGET, retrain=os.fspath(retrain), device=resolve_device(device))
    rows = compare(setup, METHODS, list(range(SEEDS)), analyses=("relearn", "probe"))
    langevin, _ = timed_unlearn(setup, create_method("langevin"), seed=0)  # the panel's model: compare keeps none
    models = [("original", setup.original), ("langevin", langevin.eval()), ("retrained", setup.retrain)]
    embedding_plot(models, setup.data, setup.split, out.with_suffix(".png"), n=500, seed=0, device=setup.device)
    return {
        "page": "analyses",
        "rows": [_row(r) for r in rows],
        "settings": {m: create_method(m).describe() for m in METHODS},
        "figure": out.with_suffix(".png").name,
    }


def measure_sweep(runs: Path, device: str) -> dict:
    original, retrain = pair(runs, device)
    grid = parse_grid("langevin", list(GRID), list(FIXED))
    spec = SweepSpec("digits_page", original, retrain, FORGET, grid, seeds=SWEEP_SEEDS, results_dir=runs, device=device)
    store = run_sweep(spec, progress=False).store
    rows = store.rows()
    refs = summary_references(store, rows)
    store.close()
    return {"page": "sweep", "grid": list(GRID), "fixed": list(FIXED), "rows": rows, "references": refs}


def _row(r: dict) -> dict:
    """A compare row as the page stores it: its name, and mean (and std over seeds, for methods) of each column."""
    name = r.get("model") or r["method"]
    out = {"model": "retrain" if name.startswith("retrain") else name}
    for c in COLUMNS[1:]:
        out[c] = r.get(c)
        if r.get(f"{c}_seed_std") is not None:
            out[f"{c}_std"] = r[f"{c}_seed_std"]
    return out


def _cell(row: dict, column: str) -> str:
    """``mean ± std`` where the row has a spread over seeds, as the sweep table writes its cells."""
    if column == "model":
        return row["model"]
    std = row.get(f"{column}_std")
    return cell(column, row[column], std or 0.0, bool(std))


def render_analyses(result: dict) -> str:
    rows = {r["model"]: r for r in result["rows"]}
    retrain, lg = rows["retrain"], rows.get("langevin")
    hid = []
    for name, r in rows.items():
        if name in ("original", "retrain") or r.get("relearn_steps") is None:
            continue
        if r["forget_acc"] > retrain["forget_acc"] + 0.1:
            hid.append(f"`{name}` did not forget the class")
            continue
        deeper = r["relearn_steps"] >= retrain["relearn_steps"] and r["probe_acc"] <= retrain["probe_acc"] + 0.05
        hid.append(f"`{name}` {'removed it as deeply as retraining' if deeper else 'hid it more than it removed it'}")
    lg_text = (
        f"`langevin` needs {lg['relearn_steps']:.1f} relearning steps against the retrained model's "
        f"{retrain['relearn_steps']:.1f}, and its probe finds {100 * lg['probe_acc']:.1f}% of the held-out 3s against "
        f"{100 * retrain['probe_acc']:.1f}%."
        if lg
        else ""
    )
    return (
        f"# Relearning, linear probe and t-SNE on digits\n\n"
        f"Digits, `{FORGET}`, AllCNN width {RECIPE['width']}, {RECIPE['epochs']} epochs, lr {RECIPE['lr']}; every method "
        f"at its defaults, {SEEDS} seeds (mean ± std over the unlearning seeds, one trained pair). What the two last "
        f"columns mean: [../analyses.md](../analyses.md).\n\n"
        f"{markdown_table([{c: _cell(r, c) for c in COLUMNS} for r in rows.values()], COLUMNS)}\n\n"
        f"{lg_text} By both columns (relearning at least the retrained model's steps, probe within 5 points): {'; '.join(hid)}.\n\n"
        f"![t-SNE of the original, langevin and retrained features on digits]({result['figure']})\n"
    )


def render_sweep(result: dict) -> str:
    rows = result["rows"]
    table = summary_table(rows, result["references"])
    closest = closest_line(rows, varying([r for r in rows if not r.get("error")]))
    return (
        f"# A small sweep on digits\n\n"
        f"`langevin` over {' x '.join(f'`{g}`' for g in result['grid'])}, its other settings at their defaults but "
        f"{', '.join(f'`{f}`' for f in result['fixed'])} (one pass over the forget set, so `min_steps` gives 100 updates: "
        f"an example of the printed table, not a tuning run), seeds {', '.join(str(s) for s in SWEEP_SEEDS)}; digits `{FORGET}`, AllCNN width {RECIPE['width']}. "
        f"Cells are mean ± std over the seeds. What the columns mean: [../sweeps.md](../sweeps.md).\n\n"
        f"```\n{table}\n```\n\n{closest or 'smallest mean Avg. Gap to retraining: -'}\n"
    )


def render(result: dict, source: str) -> str:
    """The markdown page of a stored result (what main() writes to OUT.json)."""
    m = result["machine"]
    body = render_analyses(result) if result["page"] == "analyses" else render_sweep(result)
    return (
        f"Generated by `python -m studies.digits_pages {result['page']} --report-only --out {source}` from "
        f"`{Path(source).with_suffix('.json').name}`; do not edit. Measured by `{result['command']}` on {m['cpu']}, "
        f"{m['cores']} cores, torch {m['torch']}, {result['threads']} torch thread(s), in {result['seconds']:.0f} s.\n\n"
        f"{body}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("page", choices=["analyses", "sweep"])
    add_page_flags(p, Path("results/digits.md"))
    p.add_argument("--runs-dir", type=Path, default=Path("runs/digits_pages"), help="the trained pair and the sweep")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    if rewrite_page(args, render, args.page):
        return
    start = time.perf_counter()
    command = "python -m studies.digits_pages " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.page == "analyses":
        result = measure_analyses(args.runs_dir, args.out, args.device)
    else:
        result = measure_sweep(args.runs_dir, args.device)
    result |= {
        "command": command,
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - start,
    }
    write_json(args.out.with_suffix(".json"), result)
    write_text(args.out, render(result, str(args.out)))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
