"""Run several unlearning methods from the same original model and score them the same way.

The ``gap`` column sums the absolute differences to the retrained model's forget accuracy and MIA: 0 means indistinguishable from retraining on these three measures.
With several seeds each column also gets a 95% t-interval over seeds (``*_ci95_low`` / ``*_ci95_high``) and
``within_noise`` names the columns whose difference to the retrained model lies inside that interval.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from .errors import UserError
from .evaluation.audit import t_interval
from .experiment import Setup, reference_rows, unlearn_and_evaluate
from .methods import METHODS, create_method

COLUMNS = ["forget_acc", "remain_acc", "test_acc", "mia", "mia_efficacy", "agreement_with_retrain", "js_to_retrain_forget", "js_to_retrain_remain", "unlearn_seconds", "speedup", "gap"]
# short headers for printed tables (the CSV keeps the full names)
HEADERS = {"forget_acc": "forget", "remain_acc": "remain", "test_acc": "test", "mia": "MIA", "mia_efficacy": "MIA-eff", "agreement_with_retrain": "agree",
           "js_to_retrain_forget": "JS forget", "js_to_retrain_remain": "JS remain", "unlearn_seconds": "seconds", "speedup": "speedup", "gap": "gap"}


def method_names(spec: str) -> list[str]:
    """'all' or a comma-separated list of registered method names."""
    if spec == "all":
        return METHODS.names()
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UserError("--methods is empty; use all or a comma-separated list such as langevin,finetune")
    for n in names:
        METHODS.get(n)  # unknown -> one-line error listing the methods
    return names


def gap(row: dict, target: dict) -> float:
    return sum(abs(row[k] - target[k]) for k in ("forget_acc", "remain_acc", "mia"))


def compare(setup: Setup, names: Sequence[str], seeds: Sequence[int], *, progress: bool = True, settings: dict[str, dict] | None = None) -> list[dict]:
    """One row per method (mean and std over ``seeds``), after the original and retrained reference rows."""
    if setup.retrain is None:
        raise UserError("compare needs the retrained model as the target: pass --retrain RUN")
    refs = reference_rows(setup, seeds[0])
    target = refs[1]
    target["gap"] = 0.0
    refs[0]["gap"] = gap(refs[0], target)
    rows = [_summary(r["model"], [r]) for r in refs]
    for name in names:
        runs, error = [], None
        for seed in seeds:
            try:
                method = create_method(name, **(settings or {}).get(name, {}))
                _, metrics = unlearn_and_evaluate(setup, method, seed=seed, progress=progress)
            except Exception as e:  # a diverging or out-of-memory method gets its error in the table; the rest still run
                error = f"{type(e).__name__}: {e}".splitlines()[0][:120]
                break
            metrics["gap"] = gap(metrics, target)
            runs.append(metrics)
        rows.append(_summary(name, runs, error=error))
    for row in rows[2:]:
        row["within_noise"] = " ".join(within_noise_columns(row, target))
    return rows


NOISE_COLUMNS = ("forget_acc", "remain_acc", "test_acc", "mia", "mia_efficacy", "gap")


def within_noise_columns(row: dict, target: dict) -> list[str]:
    """Columns whose retrained-model value lies inside the row's 95% interval over seeds (needs 2+ seeds)."""
    out = []
    for col in NOISE_COLUMNS:
        lo, hi, ref = row.get(f"{col}_ci95_low"), row.get(f"{col}_ci95_high"), target.get(col)
        if isinstance(lo, float) and isinstance(ref, (int, float)) and not (math.isnan(lo) or math.isnan(ref)) and lo <= ref <= hi:
            out.append(col)
    return out


def _summary(name: str, runs: list[dict], error: str | None = None) -> dict:
    row: dict = {"method": name, "seeds": len(runs)}
    for col in COLUMNS:
        values = [r[col] for r in runs if isinstance(r.get(col), (int, float)) and not math.isnan(r[col])]
        row[col] = statistics.fmean(values) if values else float("nan")
        row[f"{col}_seed_std"] = statistics.pstdev(values) if len(values) > 1 else (0.0 if values else float("nan"))
        _, row[f"{col}_ci95_low"], row[f"{col}_ci95_high"] = t_interval(values)
    row["error"] = error or ""
    return row


def display_rows(rows: list[dict]) -> list[dict]:
    """Rows for people: short headers, numbers rounded, 'mean ± 95% half-width' cells where several seeds ran
    (a '*' marks a mean whose interval holds the retrained model's value: within seed noise)."""
    out = []
    for r in rows:
        with_std = r["seeds"] > 1
        d = {"method": r["method"]}
        for col in COLUMNS:
            mean, lo, hi = r[col], r.get(f"{col}_ci95_low", math.nan), r.get(f"{col}_ci95_high", math.nan)
            half = (hi - lo) / 2  # half-width of the 95% t-interval over seeds
            digits = 2 if col in ("unlearn_seconds", "speedup") else 4
            if isinstance(mean, float) and math.isnan(mean):
                d[HEADERS[col]] = "-"
            elif with_std:
                star = "*" if col in r.get("within_noise", "").split() else ""  # retrain's value inside the 95% seed interval
                d[HEADERS[col]] = f"{mean:.{digits}f} ± {half:.{digits}f}{star}"
            else:
                d[HEADERS[col]] = f"{mean:.{digits}f}"
        d["error"] = r["error"]
        out.append(d)
    return out
