"""Run several unlearning methods from the same original model and score them the same way.

The ``avg_gap`` column (evaluation/closeness.py) is SalUn's Avg. Gap to the retrained model, the score studies and
sweeps rank by too; ``gap`` (the sum of the test-set forget, remain and MIA differences) is kept beside it.
With several seeds each column also gets a 95% t-interval over seeds (``*_ci95_low`` / ``*_ci95_high``) and
``within_noise`` names the columns whose difference to the retrained model lies inside that interval.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..core.errors import UserError
from ..evaluation.analyses import ANALYSIS_COLUMNS, run_analyses
from ..evaluation.audit import t_interval
from ..evaluation.closeness import avg_gap, gap
from ..evaluation.metrics import evaluate
from ..methods import METHODS, create_method
from ..store.atomic import json_text
from ..store.checkpoint import load_checkpoint, read_meta
from ..store.resume import compare_identity, finish, load_done, progress_path, save_progress
from ..store.tables import write_csv
from .compose import check_same_task
from .setup import Setup, reference_rows, unlearn_and_evaluate

COLUMNS = [
    "forget_acc",
    "remain_acc",
    "test_acc",
    "mia",
    "mia_efficacy",
    "agreement_with_retrain",
    "js_to_retrain_forget",
    "js_to_retrain_remain",
    "unlearn_seconds",
    "speedup",
    "gap",
    "avg_gap",
]
# short headers for printed tables (the CSV keeps the full names)
HEADERS = {
    "forget_acc": "forget",
    "remain_acc": "remain",
    "test_acc": "test",
    "mia": "MIA",
    "mia_efficacy": "MIA-eff",
    "agreement_with_retrain": "agree",
    "js_to_retrain_forget": "JS forget",
    "js_to_retrain_remain": "JS remain",
    "unlearn_seconds": "seconds",
    "speedup": "speedup",
    "gap": "gap",
    "avg_gap": "Avg.Gap",
    "relearn_steps": "relearn",
    "probe_acc": "probe",
}


def method_names(spec: str) -> list[str]:
    """'all', 'none' (only --models rows) or a comma-separated list of registered method names."""
    if spec == "all":
        return METHODS.names()
    if spec == "none":
        return []
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UserError("--methods is empty; use all or a comma-separated list such as langevin,finetune")
    for n in names:
        METHODS.get(n)  # unknown -> one-line error listing the methods
    return list(dict.fromkeys(names))  # each method once, in the order first given


def model_runs(spec: str | None) -> dict[str, Path]:
    """``NAME=RUN,NAME=RUN`` (or plain ``RUN``, named after its folder) -> {name: run folder}."""
    out: dict[str, Path] = {}
    for item in (spec or "").split(","):
        if item.strip():
            name, _, run = item.strip().partition("=") if "=" in item else ("", "", item.strip())
            out[name.strip() or Path(run).name] = Path(run.strip())
    return out


def compare(
    setup: Setup,
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    progress: bool = True,
    settings: dict[str, dict] | None = None,
    models: dict[str, Path] | None = None,
    analyses: Sequence[str] = (),
    done: dict[str, dict] | None = None,
    on_row: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """One row per method (mean and std over ``seeds``), after the original and retrained reference rows;
    then one row per already-made model in ``models`` (e.g. compositions), scored by the same evaluation.

    ``analyses`` (evaluation/analyses.py: relearn, probe) add their columns to every row. Methods in ``done``
    (rows of an interrupted run) are not run again; ``on_row(rows)`` sees the rows so far after each method.
    """
    if setup.retrain is None:
        raise UserError("compare needs the retrained model as the target: pass --retrain RUN")
    for name, run in (models or {}).items():  # check them all before any method runs
        check_same_task({"original model": setup.original_meta, f"model {name!r}": read_meta(run)}, setup.split.spec)
    refs = reference_rows(setup, seeds[0])
    target = refs[1]
    target["gap"] = target["avg_gap"] = 0.0
    refs[0]["gap"], refs[0]["avg_gap"] = gap(refs[0], target), avg_gap(refs[0], target)
    analyses = list(analyses)

    def analyse(model, seed: int) -> dict:  # relearning threshold: half the original's forget accuracy
        return (
            run_analyses(
                model, setup.data, setup.split, analyses, device=setup.device, seed=seed, original=setup.original
            )
            if analyses
            else {}
        )

    refs[0].update(analyse(setup.original, seeds[0]))
    refs[1].update(analyse(setup.retrain, seeds[0]))
    rows = [_summary(r["model"], [r]) for r in refs]
    todo = [n for n in names if not (done and n in done)]
    # the outer bar counts the (method, seed) runs and names the one running; each method's own bar shows its steps
    bar = tqdm(total=len(todo) * len(seeds), desc="compare", unit="run", disable=not progress, dynamic_ncols=True)
    for name in names:
        if done and name in done:
            rows.append(done[name])
            continue
        runs, error = [], None
        for seed in seeds:
            bar.set_postfix_str(f"{name} (seed {seed}), {len(rows) - 2} of {len(names)} methods done")
            try:
                method = create_method(name, **(settings or {}).get(name, {}))
                model, metrics = unlearn_and_evaluate(setup, method, seed=seed, progress=progress)
                metrics.update(analyse(model, seed))
            except (
                Exception
            ) as e:  # a diverging or out-of-memory method gets its error in the table; the rest still run
                error = f"{type(e).__name__}: {e}".splitlines()[0][:120]
                break
            metrics["gap"], metrics["avg_gap"] = gap(metrics, target), avg_gap(metrics, target)
            runs.append(metrics)
            bar.update()
        rows.append(_summary(name, runs, error=error))
        rows[-1]["within_noise"] = " ".join(within_noise_columns(rows[-1], target))
        if on_row is not None:
            on_row(rows)
    bar.close()
    for name, run in (models or {}).items():
        model, _ = load_checkpoint(run, device=setup.device)
        metrics = evaluate(model, setup.data, setup.split, reference=setup.retrain, device=setup.device, seed=seeds[0])
        metrics.update(analyse(model, seeds[0]))
        rows.append(_summary(name, [{**metrics, "gap": gap(metrics, target), "avg_gap": avg_gap(metrics, target)}]))
    return rows


NOISE_COLUMNS = ("forget_acc", "remain_acc", "test_acc", "mia", "mia_efficacy", "gap", "avg_gap")


def within_noise_columns(row: dict, target: dict) -> list[str]:
    """Columns whose retrained-model value lies inside the row's 95% interval over seeds (needs 2+ seeds)."""
    out = []
    for col in NOISE_COLUMNS:
        lo, hi, ref = row.get(f"{col}_ci95_low"), row.get(f"{col}_ci95_high"), target.get(col)
        if (
            isinstance(lo, float)
            and isinstance(ref, (int, float))
            and not (math.isnan(lo) or math.isnan(ref))
            and lo <= ref <= hi
        ):
            out.append(col)
    return out


def _summary(name: str, runs: list[dict], error: str | None = None) -> dict:
    row: dict = {"method": name, "seeds": len(runs)}
    for col in COLUMNS + [c for c in ANALYSIS_COLUMNS if any(c in r for r in runs)]:
        values = [r[col] for r in runs if isinstance(r.get(col), (int, float)) and not math.isnan(r[col])]
        row[col] = statistics.fmean(values) if values else float("nan")
        row[f"{col}_seed_std"] = statistics.pstdev(values) if len(values) > 1 else (0.0 if values else float("nan"))
        _, row[f"{col}_ci95_low"], row[f"{col}_ci95_high"] = t_interval(values)
    row["error"] = error or ""
    row["per_class_acc"] = _mean_per_class(runs)
    return row


def _mean_per_class(runs: list[dict]) -> list[float]:
    """Per-class test accuracy averaged over seeds ([] when no run recorded it)."""
    lists = [r["per_class_acc"] for r in runs if r.get("per_class_acc")]
    return [statistics.fmean(v) for v in zip(*lists)] if lists else []


def table_columns(rows: list[dict]) -> list[str]:
    """COLUMNS, then the analysis columns (relearn_steps, probe_acc) that some row has."""
    return COLUMNS + [c for c in ANALYSIS_COLUMNS if any(c in r for r in rows)]


def run_compare(
    setup: Setup,
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    name: str,
    results_dir: Path,
    forget: str,
    progress: bool = True,
    models: dict[str, Path] | None = None,
    analyses: Sequence[str] = (),
    announce: Callable[[str], None] = lambda _: None,
) -> list[dict]:
    """``compare`` made resumable: each finished method's row goes to results/NAME.csv and the progress file at once, and a
    rerun of an interrupted comparison with the same inputs skips those methods. The CSV is replaced, not appended to."""
    progress_file, ident = progress_path(results_dir, name), compare_identity(setup, forget, list(seeds))
    settings = json.loads(json_text({n: create_method(n).describe() for n in names}))
    done = load_done(progress_file, ident, settings)
    if done:
        announce(f"resuming {name}: {', '.join(n for n in names if n in done)} already done")

    def table(rows_so_far: list[dict]) -> list[dict]:
        return [{"name": name, "forget": forget, "seeds": " ".join(map(str, seeds)), **r} for r in rows_so_far]

    def keep(rows_so_far: list[dict]) -> None:
        save_progress(progress_file, ident, rows_so_far, settings)
        write_csv(results_dir / f"{name}.csv", table(rows_so_far))

    rows = compare(setup, names, seeds, progress=progress, models=models, analyses=analyses, done=done, on_row=keep)
    write_csv(results_dir / f"{name}.csv", table(rows))
    finish(progress_file)
    return rows
