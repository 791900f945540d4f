"""Summaries of stored sweep runs: which settings vary, and mean/std over seeds per settings combination.

Audited grid points (the sweep's audit objective) are one line each, their audit scores (F, LiRA AUC, remain F)
beside the mean metrics and gaps of their N runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np

from ..evaluation.closeness import with_gaps
from ..experiments.sweeps.grid import fmt_value
from . import units
from .tables import text_table

# (stored metric, short header) of the printed table, each in its unit (units.py); the Langevin diagnostics
# appear only where the runs recorded them
SHOWN = [
    ("forget_acc", "forget"),
    ("remain_acc", "remain"),
    ("mia", "MIA"),
    ("avg_gap", "Avg.Gap"),
    ("distance", "distance"),
    ("unlearn_seconds", "seconds"),
    ("speedup", "speedup"),
    ("noise_flip_share", "noise flips"),
    ("crossed_share", "crossed"),
    ("forget_test_auc", "fgt/test AUC"),
]
OPTIONAL = {"noise_flip_share", "crossed_share", "forget_test_auc"}
AUDIT_SHOWN = [("F", "F"), ("lira_auc", "LiRA AUC"), ("remain_F", "remain F")]
METRICS = [
    "forget_acc",
    "remain_acc",
    "test_acc",
    "mia",
    "forget_gap",
    "remain_gap",
    "mia_gap",
    "avg_gap",
    "distance",
    "unlearn_seconds",
    "speedup",
    "noise_flip_share",
    "crossed_share",
    "forget_test_auc",
    "forget_test_dist",
]


def ok_rows(rows: Sequence[dict]) -> list[dict]:
    return [r for r in rows if not r.get("error")]


def varying(rows: Sequence[dict]) -> list[str]:
    """Settings that take more than one value across ``rows`` (the grid's axes), in settings order."""
    names = list(dict.fromkeys(k for r in rows for k in r["settings"]))
    return [k for k in names if len({repr(r["settings"].get(k)) for r in rows}) > 1]


def _value(v):
    return v if isinstance(v, (int, float)) and v is not None and not (isinstance(v, float) and math.isnan(v)) else None


def aggregate(rows: Sequence[dict], by: Sequence[str], metrics: Sequence[str] = METRICS) -> list[dict]:
    """One dict per combination of the ``by`` settings (first-seen order): the settings, ``runs``, ``seeds``,
    and per metric its mean, ``_std`` (population std over the runs) and ``_range`` (max - min)."""
    groups: dict[tuple, list[dict]] = {}
    for r in ok_rows(rows):
        groups.setdefault(tuple(repr(r["settings"].get(b)) for b in by), []).append(r)
    out = []
    for runs in groups.values():
        row = {b: runs[0]["settings"].get(b) for b in by}
        row["runs"], row["seeds"] = len(runs), sorted({r["seed"] for r in runs})
        for m in metrics:
            vals = [v for v in (_value(r["metrics"].get(m)) for r in runs) if v is not None]
            row[m] = statistics.fmean(vals) if vals else math.nan
            row[f"{m}_std"] = statistics.pstdev(vals) if len(vals) > 1 else (0.0 if vals else math.nan)
            row[f"{m}_range"] = (max(vals) - min(vals)) if vals else math.nan
        out.append(row)
    return out


def cell(metric: str, mean: float, std: float, with_std: bool) -> str:
    """``mean`` (± ``std`` over seeds) in the metric's unit and decimals."""
    if math.isnan(mean):
        return "-"
    return f"{units.fmt(metric, mean)} ± {units.fmt(metric, std)}" if with_std else units.fmt(metric, mean)


def summary_table(
    rows: Sequence[dict],
    references: dict[str, dict],
    by: Sequence[str] | None = None,
    audits: Sequence[dict] = (),
) -> str:
    """The printed table: the reference models, then one line per settings combination (mean ± std over seeds),
    then one line per audited grid point (``audits``: SweepStore.audit_rows), its N runs' means beside F."""
    audited = ok_rows(audits)
    by = list(by if by is not None else varying(ok_rows(rows) + audited))
    present = ok_rows(rows) + audited
    shown = [
        (m, units.header(m, h))
        for m, h in SHOWN
        if m not in OPTIONAL or any(_value(r["metrics"].get(m)) is not None for r in present)
    ] + ([(m, units.header(m, h)) for m, h in AUDIT_SHOWN] if audited else [])
    lines = []
    for label, ref in references.items():
        lines.append(
            {
                **{b: "" for b in by},
                "runs": "",
                **{
                    h: cell(m, _value(ref.get(m)) if _value(ref.get(m)) is not None else math.nan, 0, False)
                    for m, h in shown
                },
                "model": label,
            }
        )
    for g in aggregate(rows, by):
        many = g["runs"] > 1
        lines.append(
            {
                **{b: fmt_value(g[b]) for b in by},
                "runs": str(g["runs"]),
                **{h: cell(m, g[m], g[f"{m}_std"], many) for m, h in shown},
                "model": "",
            }
        )
    for a in audited:
        lines.append(
            {
                **{b: fmt_value(a["settings"].get(b)) for b in by},
                "runs": f"{a['n']} audit",
                **{h: cell(m, _num(a["metrics"].get(m)), 0, False) for m, h in shown},
                "model": "",
            }
        )
    failed = [r for r in rows if r.get("error")]
    text = text_table(lines, ["model", *by, "runs", *(h for _, h in shown)])
    if failed:
        text += f"\n{len(failed)} run(s) failed (retried by the next call), e.g.: {failed[0]['error']}"
    failed = [a for a in audits if a.get("error")]
    if failed:
        text += f"\n{len(failed)} audit(s) failed (retried by the next call), e.g.: {failed[0]['error']}"
    return text


def _num(v) -> float:
    v = _value(v)
    return math.nan if v is None else float(v)


def best_audit(audits: Sequence[dict]) -> dict | None:
    """The audited grid point with the highest F (ties: the smaller mean Avg. Gap)."""
    ok = [a for a in ok_rows(audits) if not math.isnan(_num(a["metrics"].get("F")))]
    if not ok:
        return None
    gap = lambda a: _num(a["metrics"].get("avg_gap"))  # noqa: E731
    return max(ok, key=lambda a: (_num(a["metrics"]["F"]), -gap(a) if not math.isnan(gap(a)) else -math.inf))


def summary_references(store, rows: Sequence[dict]) -> dict[str, dict]:
    """The rows the printed table starts with: the retrained model (the target) and the original, at the first seed."""
    seeds = sorted({r["seed"] for r in rows}) or [0]
    retrain = store.reference("retrain").get(seeds[0], {})
    original = store.reference("original").get(seeds[0], {})
    return {
        "retrain (target)": {**retrain, "distance": 0.0, "avg_gap": 0.0},
        "original": with_gaps(original, retrain) if original and retrain else original,
    }


def closest_line(rows: Sequence[dict], axes: Sequence[str]) -> str | None:
    """The line under the table naming the settings with the smallest mean Avg. Gap (None: nothing to choose)."""
    top = best(rows, axes)
    if top is None or not axes:
        return None
    return (
        "smallest mean Avg. Gap to retraining: "
        + ", ".join(f"{k}={top[k]}" for k in axes)
        + f" ({top['avg_gap']:.2f} pp)"
    )


def best(rows: Sequence[dict], by: Sequence[str], metric: str = "avg_gap") -> dict | None:
    groups = [g for g in aggregate(rows, by) if not math.isnan(g[metric])]
    return min(groups, key=lambda g: (g[metric], g["unlearn_seconds"])) if groups else None


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank); NaN when either side is constant or too short."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def selection_agreement(audits: Sequence[dict], score: str = "forget_test_dist") -> dict | None:
    """How well choosing by the retrain-free ``score`` (smaller is better) matches choosing by audit F (larger is
    better), over the audited grid points that have both (None with fewer than two).

    ``same_choice``: the point the score ranks first is one of the points with the highest F. ``pair_agreement``:
    over the pairs of points whose F differs, the share where the score prefers the one with the higher F (a tie
    in the score counts half): how often choosing between two settings by the score picks audit F's choice.
    ``spearman``: the rank correlation between F and -score (1: the same order, 0: unrelated, < 0: reversed)."""
    points = [
        (a["settings"], _num(a["metrics"].get("F")), _num(a["metrics"].get(score)))
        for a in ok_rows(audits)
        if not math.isnan(_num(a["metrics"].get("F"))) and not math.isnan(_num(a["metrics"].get(score)))
    ]
    if len(points) < 2:
        return None
    f = np.array([p[1] for p in points])
    d = np.array([p[2] for p in points])
    by_score, by_f = int(np.argmin(d)), int(np.argmax(f))
    agree = pairs = 0.0
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            if f[i] == f[j]:
                continue
            pairs += 1
            agree += 0.5 if d[i] == d[j] else float((d[i] < d[j]) == (f[i] > f[j]))
    return {
        "points": len(points),
        "same_choice": bool(f[by_score] == f.max()),
        "chosen_by_score": points[by_score][0],
        "chosen_by_F": points[by_f][0],
        "pairs": int(pairs),
        "pair_agreement": agree / pairs if pairs else math.nan,
        "spearman": spearman(f, -d),
    }


def agreement_line(audits: Sequence[dict], axes: Sequence[str]) -> str | None:
    """One line for the printed summary: does the retrain-free score choose what audit F chooses?"""
    a = selection_agreement(audits)
    if a is None:
        return None

    def named(settings: dict) -> str:
        return ", ".join(f"{k}={fmt_value(settings.get(k))}" for k in axes) or "the one setting"

    if a["same_choice"]:
        choice = f"both choose {named(a['chosen_by_score'])}"
    else:
        choice = (
            f"they disagree: the retrain-free score chooses {named(a['chosen_by_score'])}, "
            f"audit F chooses {named(a['chosen_by_F'])}"
        )
    pairs = (
        f"it picks audit F's choice in {a['pair_agreement']:.0%} of {a['pairs']} pairs"
        if a["pairs"]
        else "no pair differs in F"
    )
    rho = a["spearman"]
    order = (
        "undefined (one side is constant)"
        if math.isnan(rho)
        else f"{rho:.2f}" + (" (the orders disagree)" if rho <= 0 else "")
    )
    return (
        f"retrain-free |fgt/test AUC - 0.5| vs audit F over {a['points']} points: {choice}; {pairs}; Spearman {order}"
    )
