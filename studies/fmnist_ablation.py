"""The gamma x lamda ablation on Fashion-MNIST, and Langevin defaults chosen from it without leakage.

1. Tuning, forget classes 0 and 2 only: a sweep of gamma in {0, 1e-4, 1e-2, 1} x lamda in {0, 1e-3, 1e-1}
   (steps 5, 2 seeds), then a small second grid over phi x lr x passes x BN mode at the chosen gamma/lamda.
   Rule: the settings with the smallest mean distance to retraining sqrt(dR^2 + dF^2) over both tuning
   classes and all seeds (test accuracies); settings within 0.25 points of the smallest count as tied and
   the fastest of them (mean unlearning time) wins. Only settings with every (class, seed) run finished compete.
2. Held out, forget classes 4 and 8 (never seen by the choice): the chosen settings, the current defaults
   and Boundary Shrink, same seeds, against the goals: forget accuracy within 2 points of retrain's,
   remain within 1 point, MIA within 0.03, unlearning time at most a fifth of retraining.

Unlearning budgets: the CPU-sized default gives every run one pass over the forget set (CPU_BUDGET: epochs 1,
so at least min_steps = 100 updates) and stage 2 then leaves passes out of its grid; ``--paper`` keeps every
default (10 passes) and tunes passes in stage 2.

Writes OUT/report.md, OUT/*.png (heatmaps over both tuning classes, the front) and one sweep store per
class and method under OUT/ (rerun the same command to resume; ``--budget-seconds`` stops cleanly).
Trained models are cached in --runs-dir with the names studies/recipe.py uses.

    python -m studies.fmnist_ablation --tiny      # dry run on digits, tiny budgets (< 1 min on a CPU)
    python -m studies.fmnist_ablation             # CPU-sized: AllCNN width 0.25 at 28x28, 3 training epochs
    python -m studies.fmnist_ablation --paper     # full AllCNN at 32x32, 15 epochs (a GPU)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from langevin_unlearning.core.device import resolve_device
from langevin_unlearning.experiments import cached_run, train_cached
from langevin_unlearning.experiments.sweeps.executors import make_executor
from langevin_unlearning.experiments.sweeps.grid import fmt_value, parse_grid
from langevin_unlearning.experiments.sweeps.run import SweepSpec, plan, run_sweep, with_gaps
from langevin_unlearning.methods import create_method
from langevin_unlearning.report.sweep_plots import front, heatmaps
from langevin_unlearning.report.sweep_summary import aggregate
from langevin_unlearning.report.tables import markdown_table
from langevin_unlearning.store.atomic import write_text
from langevin_unlearning.store.checkpoint import read_meta
from langevin_unlearning.store.sweep_store import SweepStore
from studies.recipe import TUNING_CLASSES, add_recipe_flags, apply_paper, recipe_from_args

STAGE1 = (["gamma=0,1e-4,1e-2,1", "lamda=0,1e-3,1e-1"], ["steps=5"])
STAGE2 = ["phi=0.5,1", "lr=1e-3,3e-3", "epochs=5,10", "bn=train,frozen"]
TINY_BUDGET = ["epochs=1", "min_steps=5"]  # --tiny: unlearning budgets small enough for a dry run
# CPU-sized default (not --paper): one pass over the forget set (at least min_steps = 100 updates), as fmnist_audit.py;
# a 10-pass run at steps 5 is ~20 minutes of one core here, so the full grid would be ~17 hours
CPU_BUDGET = ["epochs=1"]
TIE = 0.0025  # distances within 0.25 accuracy points of the best are a tie: the fastest wins
GOALS = {
    "forget within 2 pt": ("forget_gap", 0.02),
    "remain within 1 pt": ("remain_gap", 0.01),
    "MIA within 0.03": ("mia_gap", 0.03),
}
HELDOUT_COLUMNS = [
    "configuration",
    "runs",
    "forget",
    "remain",
    "MIA",
    "forget gap (pt)",
    "remain gap (pt)",
    "MIA gap",
    "seconds",
    "time / retrain",
    *GOALS,
    "time <= 1/5 retrain",
]


class Clock:
    def __init__(self, budget: float | None):
        self.start, self.budget = time.monotonic(), budget

    def left(self) -> float | None:
        return None if self.budget is None else self.budget - (time.monotonic() - self.start)

    def out(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


# ---- models --------------------------------------------------------------------------------------------


def configure(args) -> None:
    apply_paper(args)
    if args.tiny:
        args.dataset, args.epochs, args.lr, args.batch_size, args.seeds = "digits", 5, 0.05, 64, min(args.seeds, 2)
        args.tune_classes, args.heldout_classes = "0", "4"
    args.tag = (
        "digits_" if args.dataset == "digits" else ""
    ) + f"w{args.width:g}_s{args.image_size or 28}_e{args.epochs}_seed{args.seed}"


def model_path(args, forget_class: int | None) -> Path:
    return args.runs_dir / (
        f"original_{args.tag}" if forget_class is None else f"retrain_{args.tag}_forget{forget_class}"
    )


def train_or_reuse(args, forget_class: int | None, device, clock: Clock, log: list[str]) -> Path | None:
    """The original model (forget_class None) or the one retrained without that class; reused when cached."""
    out = model_path(args, forget_class)
    forget = None if forget_class is None else f"class:{forget_class}"  # an original is keyed without a forget spec
    recipe = recipe_from_args(args, device, args.dataset)
    meta = cached_run(recipe, out, forget=forget, exclude_forget=forget_class is not None, seed=args.seed)
    if meta is not None:
        log.append(f"reused {out} (trained in {meta.train_seconds} s on {meta.device})")
        return out
    if clock.out():
        log.append(f"not trained (budget spent): {out}")
        return None
    train_cached(
        recipe,
        out,
        forget=forget,
        exclude_forget=forget_class is not None,
        seed=args.seed,
        device=device,
        progress=not args.no_progress,
    )
    log.append(f"trained {out} in {read_meta(out).train_seconds} s on {device}")
    return out


# ---- sweeps --------------------------------------------------------------------------------------------


def sweep(
    args, name: str, original: Path, retrain: Path, k: int, method: str, grids, fixed, executor, clock: Clock
) -> tuple[SweepStore, list[str], bool]:
    """Run (or resume) one sweep; return its store, the keys this grid asked for, and whether it finished."""
    spec = SweepSpec(
        name,
        original,
        retrain,
        f"class:{k}",
        parse_grid(method, grids, fixed),
        seeds=args.seed_list,
        results_dir=args.out,
        device=args.device,
        budget_seconds=clock.left(),
    )
    keys = [key for key, _, _ in plan(spec)]
    if clock.out():
        return SweepStore.open(spec.folder, None) if (spec.folder / "sweep.sqlite").is_file() else None, keys, False
    report = run_sweep(spec, executor, progress=not args.no_progress)
    return report.store, keys, report.remaining == 0


def rows_of(store: SweepStore | None, keys: list[str], forget_class: int) -> list[dict]:
    if store is None:
        return []
    wanted = set(keys)
    return [{**r, "forget_class": forget_class} for r in store.rows() if r["key"] in wanted and not r.get("error")]


def choose(rows: list[dict], by: list[str], n_complete: int) -> tuple[dict | None, list[dict]]:
    """The rule: smallest mean distance over every (class, seed); within TIE of it, the fastest."""
    groups = [g for g in aggregate(rows, by) if g["runs"] == n_complete and not math.isnan(g["distance"])]
    if not groups:
        return None, []
    low = min(g["distance"] for g in groups)
    tied = [g for g in groups if g["distance"] <= low + TIE]
    return min(tied, key=lambda g: g["unlearn_seconds"]), groups


def pts(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def table_rows(groups: list[dict], by: list[str], chosen: dict | None) -> list[dict]:
    out = []
    for g in sorted(groups, key=lambda g: g["distance"]):
        out.append(
            {
                **{b: fmt_value(g[b]) for b in by},
                "runs": g["runs"],
                "distance (pt)": f"{pts(g['distance'])} ± {pts(g['distance_std'])}",
                "forget gap (pt)": f"{pts(g['forget_gap'])} ± {pts(g['forget_gap_std'])}",
                "remain gap (pt)": f"{pts(g['remain_gap'])} ± {pts(g['remain_gap_std'])}",
                "MIA gap": f"{g['mia_gap']:+.3f}",
                "noise flips": _share(g, "noise_flip_share"),
                "crossed": _share(g, "crossed_share"),
                "seconds": f"{g['unlearn_seconds']:.1f}",
                "chosen": "**yes**" if chosen is not None and all(g[b] == chosen[b] for b in by) else "",
            }
        )
    return out


def _share(g: dict, metric: str) -> str:
    return "-" if math.isnan(g.get(metric, math.nan)) else f"{g[metric]:.3f}"


def gamma_effect(rows: list[dict]) -> tuple[list[dict], str]:
    """Per (class, lamda): how far the seed-mean forget/remain accuracy moves across gamma, vs the seed spread."""
    lines, verdicts = [], {}
    for k in sorted({r["forget_class"] for r in rows}):
        for lamda in sorted({r["settings"]["lamda"] for r in rows}):
            cells = aggregate(
                [r for r in rows if r["forget_class"] == k and r["settings"]["lamda"] == lamda], ["gamma"]
            )
            if len(cells) < 2:
                continue
            line = {"class": k, "lamda": fmt_value(lamda)}
            for metric, label in (("forget_acc", "forget"), ("remain_acc", "remain")):
                means = [c[metric] for c in cells]
                move, spread = max(means) - min(means), max(c[f"{metric}_range"] for c in cells)
                line[f"{label}: move over gamma (pt)"] = pts(move)
                line[f"{label}: seed spread (pt)"] = pts(spread)
                line[f"{label}: beyond spread"] = "yes" if move > spread + 1e-9 else "no"
                verdicts.setdefault(label, []).append((move, spread, k, lamda))
            lines.append(line)
    text = []
    for label, vs in verdicts.items():
        beyond = [v for v in vs if v[0] > v[1] + 1e-9]
        top = max(vs, key=lambda v: v[0])
        text.append(
            f"gamma moves **{label} accuracy** by more than the seed spread in {len(beyond)} of {len(vs)} (class, lamda) slices"
            f" ({'yes' if beyond else 'no'}); the largest move is {pts(top[0])} points (class {top[2]}, lamda {fmt_value(top[3])}) against a seed spread of {pts(top[1])} points there"
            + (
                f"; the largest move beyond its spread exceeds it by {pts(max(v[0] - v[1] for v in beyond))} points."
                if beyond
                else "."
            )
        )
    return lines, " ".join(text) or "not enough finished runs to say."


# ---- held-out evaluation -------------------------------------------------------------------------------


def heldout_line(label: str, runs: list[dict], retrain_seconds: float | None) -> dict:
    g = aggregate(runs, [])[0] if runs else None
    if g is None:
        return {"configuration": label, "runs": 0}
    line = {
        "configuration": label,
        "runs": g["runs"],
        "forget": f"{g['forget_acc']:.4f}",
        "remain": f"{g['remain_acc']:.4f}",
        "MIA": f"{g['mia']:.3f}",
        "forget gap (pt)": pts(g["forget_gap"]),
        "remain gap (pt)": pts(g["remain_gap"]),
        "MIA gap": f"{g['mia_gap']:+.3f}",
        "seconds": f"{g['unlearn_seconds']:.1f}",
        "time / retrain": f"{g['unlearn_seconds'] / retrain_seconds:.3f}" if retrain_seconds else "-",
    }
    for goal, (metric, bound) in GOALS.items():
        line[goal] = "yes" if abs(g[metric]) <= bound else "NO"
    line["time <= 1/5 retrain"] = "yes" if retrain_seconds and g["unlearn_seconds"] <= retrain_seconds / 5 else "NO"
    return line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_flags(p)  # --seed is the training seed and the first unlearning seed
    p.add_argument(
        "--tiny",
        action="store_true",
        help="dry run on digits with tiny budgets (proves the pipeline, measures nothing)",
    )
    p.add_argument("--dataset", default="fashionmnist")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--tune-classes", default=",".join(map(str, TUNING_CLASSES)))
    p.add_argument("--heldout-classes", default="4,8")
    p.add_argument("--no-stage2", action="store_true", help="skip the phi x lr x passes x BN grid")
    p.add_argument(
        "--tune-only",
        action="store_true",
        help="run the stage-1 sweeps and stop: no choice, no held-out runs "
        "(one process per --tune-classes class shares the work; a last run with every class reuses it)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="run the sweeps on Ray (local, or the cluster at ADDRESS)",
    )
    p.add_argument(
        "--budget-seconds", type=float, default=None, help="stop cleanly after this long and report what finished"
    )
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs/bench_fmnist"),
        help="cache of trained models (shared with recipe.py)",
    )
    p.add_argument("--out", type=Path, default=Path("results/fmnist_ablation"))
    p.add_argument(
        "--reserve-heldout",
        type=float,
        default=0,
        help="with --budget-seconds: seconds kept for the held-out check (the tuning stages stop earlier)",
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    configure(args)
    clock = Clock(args.budget_seconds)
    # the tuning stages stop early enough to leave --reserve-heldout seconds for the held-out check
    tune_clock = Clock(None if args.budget_seconds is None else max(args.budget_seconds - args.reserve_heldout, 0))
    device = resolve_device(args.device)
    args.seed_list = list(range(args.seed, args.seed + args.seeds))
    tune = [int(c) for c in args.tune_classes.split(",")]
    held = [int(c) for c in args.heldout_classes.split(",")]
    if set(tune) & set(held):
        raise SystemExit(
            "--tune-classes and --heldout-classes overlap: the held-out classes must never be seen by the choice"
        )
    fixed_budget = TINY_BUDGET if args.tiny else [] if args.paper else CPU_BUDGET
    executor = make_executor(args.ray) if args.ray else make_executor(None)
    log: list[str] = []
    original = train_or_reuse(args, None, device, clock, log)
    retrains = {k: train_or_reuse(args, k, device, clock, log) for k in tune + held} if original else {}
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    header = (
        f"{args.dataset}, AllCNN width {args.width:g} at {args.image_size or 28}px, {args.epochs} training epochs, device {device} ({where}), "
        f"unlearning seeds {args.seed_list}, unlearning budget {' '.join(fixed_budget) or 'every default (--paper)'}"
        + (", **--tiny dry run: tiny budgets, numbers mean nothing**" if args.tiny else "")
    )
    md = [f"# Langevin ablation and defaults\n\n{header}.\n", "## Models\n", *(f"- {line}" for line in log), ""]

    # stage 1: gamma x lamda on the tuning classes
    stage1, done1, by1 = [], True, ["gamma", "lamda"]
    for k in tune:
        if not (original and retrains.get(k)):
            done1 = False
            continue
        store, keys, finished = sweep(
            args,
            f"tune_class{k}",
            original,
            retrains[k],
            k,
            "langevin",
            STAGE1[0],
            STAGE1[1] + fixed_budget,
            executor,
            tune_clock,
        )
        done1 &= finished
        stage1 += rows_of(store, keys, k)
    if args.tune_only:
        print(
            f"stage 1 {'finished' if done1 else 'stopped (budget)'} for classes {tune}: {len(stage1)} runs in {args.out}; rerun without --tune-only to choose"
        )
        return
    chosen1, groups1 = choose(stage1, by1, len(tune) * len(args.seed_list))
    md += [
        "## Stage 1: gamma x lamda (steps 5) on tuning classes " + ", ".join(map(str, tune)),
        f"\nRule: smallest mean distance to retraining over classes {tune} and seeds {args.seed_list}; within {100 * TIE:g} points of it, the fastest."
        + ("" if done1 else " **The budget ran out before every run finished; only complete settings competed.**")
        + " Gaps are (Langevin - retrain) in accuracy points, mean ± std over every (class, seed); `noise flips`: share of the search's"
        " sign entries the Langevin noise flipped; `crossed`: share of forget images whose search crossed f0's decision boundary.\n",
    ]
    if groups1:
        md.append(markdown_table(table_rows(groups1, by1, chosen1)))
        effect_lines, effect_text = gamma_effect(stage1)
        md += ["\n### Does gamma matter?\n", effect_text, "", markdown_table(effect_lines) if effect_lines else ""]
        args.out.mkdir(parents=True, exist_ok=True)
        png = heatmaps(
            stage1,
            "gamma",
            "lamda",
            args.out / "heatmaps_gamma_vs_lamda_tuning.png",
            retrain=None,
            title=f"{args.dataset}: langevin, steps 5, tuning classes {tune}"
            + (" (cells pool the classes)" if len(tune) > 1 else ""),
        )
        fr = front(stage1, args.out / "front_tuning.png", title=f"{args.dataset}: stage-1 runs, tuning classes {tune}")
        per_class = []
        for k in tune:
            rows_k = [r for r in stage1 if r["forget_class"] == k]
            if rows_k:
                store = SweepStore.open(args.out / f"tune_class{k}")
                ref = store.reference("retrain").get(args.seed_list[0])
                per_class.append(
                    heatmaps(
                        rows_k,
                        "gamma",
                        "lamda",
                        args.out / f"heatmaps_gamma_vs_lamda_class{k}.png",
                        retrain=ref,
                        title=f"{args.dataset}: langevin, steps 5, forget class {k}",
                    )
                )
                store.close()
        md += ["", *(f"![{p_.stem}]({p_.name})" for p_ in [png, *per_class, fr]), ""]

    # stage 2: phi x lr x passes x BN at the chosen gamma/lamda
    chosen = {"gamma": chosen1["gamma"], "lamda": chosen1["lamda"], "steps": 5} if chosen1 else None
    if chosen and not args.no_stage2 and not tune_clock.out():
        budgeted = {b.split("=")[0] for b in fixed_budget}
        grid2 = [
            g for g in STAGE2 if g.split("=")[0] not in budgeted
        ]  # a budget that fixes passes takes them out of the grid
        stage2, done2 = [], True
        by2 = [g.split("=")[0] for g in grid2]
        for k in tune:
            store, keys, finished = sweep(
                args,
                f"tune_class{k}",
                original,
                retrains[k],
                k,
                "langevin",
                grid2,
                [f"{n}={fmt_value(v)}" for n, v in chosen.items()] + fixed_budget,
                executor,
                tune_clock,
            )
            done2 &= finished
            stage2 += rows_of(store, keys, k)
        chosen2, groups2 = choose(stage2, by2, len(tune) * len(args.seed_list))
        md += [
            f"## Stage 2: {' x '.join(by2)} at gamma {fmt_value(chosen['gamma'])}, lamda {fmt_value(chosen['lamda'])}, steps 5\n",
            "Same rule."
            + ("" if done2 else " **The budget ran out before every run finished; only complete settings competed.**")
            + "\n",
        ]
        if groups2:
            md += [markdown_table(table_rows(groups2, by2, chosen2)), ""]
            chosen.update({b: chosen2[b] for b in by2})
    elif chosen:
        md += ["## Stage 2: not run " + ("(--no-stage2)" if args.no_stage2 else "(budget spent)") + "\n"]

    # held out: the chosen settings, the current defaults and Boundary Shrink on classes the choice never saw
    if chosen:
        defaults = {k: v for k, v in create_method("langevin").describe().items() if k != "method"}
        changed = {k: v for k, v in chosen.items() if defaults.get(k) != v}
        md += [
            "## Chosen Langevin defaults\n",
            markdown_table(
                [
                    {"setting": k, "chosen": fmt_value(v), "current default": fmt_value(defaults.get(k))}
                    for k, v in chosen.items()
                ]
            ),
            "",
            f"Changed from the current defaults: {', '.join(f'{k}={fmt_value(v)}' for k, v in changed.items()) or 'nothing'}.",
            "",
        ]
        configs = [
            (
                "langevin, chosen",
                "langevin",
                [f"{n}={fmt_value(v)}" for n, v in chosen.items()]
                + [b for b in fixed_budget if b.split("=")[0] not in chosen],
            ),
            ("langevin, current defaults", "langevin", list(fixed_budget)),
            ("boundary-shrink (defaults)", "boundary-shrink", list(fixed_budget)),
        ]
        md += [
            f"## Held-out classes {', '.join(map(str, held))} (never seen by the choice)\n",
            "Mean over seeds; gaps are (method - retrain); goals: forget within 2 points of retrain, remain within 1 point, MIA within 0.03, time at most 1/5 of retraining.\n",
        ]
        all_lines = []
        for k in held:
            if not retrains.get(k):
                md.append(f"- class {k}: retrained model missing (budget)")
                continue
            lines = []
            ref_store = None
            for label, method, fixed in configs:
                if clock.out():
                    lines.append({"configuration": label, "runs": 0, "note": "budget spent"})
                    continue
                name = f"heldout_class{k}" + ("_bs" if method == "boundary-shrink" else "")
                store, keys, _ = sweep(args, name, original, retrains[k], k, method, [], fixed, executor, clock)
                ref_store = ref_store or store
                retrain_seconds = read_meta(retrains[k]).train_seconds
                lines.append(heldout_line(label, rows_of(store, keys, k), retrain_seconds))
            if ref_store is not None:
                r = ref_store.reference("retrain").get(args.seed_list[0], {})
                o = with_gaps(ref_store.reference("original").get(args.seed_list[0], {}), r)
                lines = [
                    {
                        "configuration": "retrain (target)",
                        "forget": f"{r.get('forget_acc', math.nan):.4f}",
                        "remain": f"{r.get('remain_acc', math.nan):.4f}",
                        "MIA": f"{r.get('mia', math.nan):.3f}",
                        "seconds": f"{read_meta(retrains[k]).train_seconds}",
                    },
                    {
                        "configuration": "original",
                        "forget": f"{o.get('forget_acc', math.nan):.4f}",
                        "remain": f"{o.get('remain_acc', math.nan):.4f}",
                        "MIA": f"{o.get('mia', math.nan):.3f}",
                        "forget gap (pt)": pts(o.get("forget_gap")),
                        "remain gap (pt)": pts(o.get("remain_gap")),
                    },
                    *lines,
                ]
            md += [f"### Forget class {k}\n", markdown_table(lines, HELDOUT_COLUMNS), ""]
            all_lines += [(k, line) for line in lines]
        met = [
            line["configuration"]
            for _, line in all_lines
            if line.get("configuration") == "langevin, chosen"
            and all(line.get(g) == "yes" for g in [*GOALS, "time <= 1/5 retrain"])
        ]
        md.append(f"The chosen settings meet every goal on {len(met)} of {len(held)} held-out classes.\n")
    else:
        md.append("No settings chosen: no stage-1 setting finished on every tuning class and seed (budget).\n")
    md.append(
        f"Total time {time.monotonic() - clock.start:.0f} s"
        + (f" of a {args.budget_seconds:g} s budget" if args.budget_seconds else "")
        + "."
    )
    report = write_text(args.out / "report.md", "\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nwrote {report}")


if __name__ == "__main__":
    main()
