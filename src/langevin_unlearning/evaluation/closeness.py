"""Closeness to the retrained model: the one place that defines how far a row is from the target.

The field's columns (SalUn, Fan et al., ICLR 2024, Table 1; definitions in docs/results.md), in percent:

    UA            100 x (1 - accuracy on the *training* forget images)             (unlearning accuracy)
    RA            100 x accuracy on the remain training images (a fixed 5000-image sample)
    TA            100 x test accuracy outside the forget set: the other classes for class-wise forgetting,
                  every test image for random forgetting (its test forget set is empty)
    MIA-Efficacy  100 x the share of forget images an SVC membership attack calls non-members
    avg_gap       the mean of the four absolute differences to the retrained model (SalUn's "Avg. Gap")

The older scores, kept for the tables that use them:

    gap        |Δforget_acc| + |Δremain_acc| + |ΔMIA|  (test-set accuracies and the loss MIA; compare, the API)
    distance   sqrt(Δremain_acc² + Δforget_acc²)         (the published ablation's distance; sweeps)

Both are 0 for the retrained model itself and grow with any difference; rows carry the signed per-metric
gaps too (``forget_gap``, ``remain_gap``, ``mia_gap``), so a reader can see which way a method errs.
"""

from __future__ import annotations

import math

GAP_METRICS = ("forget_acc", "remain_acc", "mia")
SALUN_COLUMNS = ("UA", "RA", "TA", "MIA-Efficacy")
SALUN_INPUTS = ("train_forget_acc", "train_remain_acc", "remain_acc", "mia_efficacy")


def salun_columns(metrics: dict) -> dict:
    """UA, RA, TA and MIA-Efficacy (percent) from an evaluation row (evaluation/metrics.py ``evaluate``)."""
    return {
        "UA": 100 * (1 - metrics["train_forget_acc"]),
        "RA": 100 * metrics["train_remain_acc"],
        "TA": 100 * metrics["remain_acc"],
        "MIA-Efficacy": 100 * metrics["mia_efficacy"],
    }


def avg_gap(metrics: dict, retrain: dict) -> float:
    """SalUn's Avg. Gap (percentage points): the mean over SALUN_COLUMNS of |method - retrained model|."""
    a, b = salun_columns(metrics), salun_columns(retrain)
    return sum(abs(a[k] - b[k]) for k in SALUN_COLUMNS) / len(SALUN_COLUMNS)


def gap(row: dict, target: dict) -> float:
    """Sum of the absolute differences to ``target`` over GAP_METRICS (NaN when one side lacks a value)."""
    return sum(abs(row[k] - target[k]) for k in GAP_METRICS)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(v)


def with_gaps(metrics: dict, retrain: dict) -> dict:
    """``metrics`` plus Avg. Gap, the signed gaps to ``retrain`` and the ablation's distance (rows with an error
    pass through)."""
    if "error" in metrics:
        return metrics
    fg = (
        metrics["forget_acc"] - retrain["forget_acc"]
        if _num(metrics.get("forget_acc")) and _num(retrain.get("forget_acc"))
        else math.nan
    )
    rg = metrics["remain_acc"] - retrain["remain_acc"]
    mg = metrics["mia"] - retrain["mia"] if _num(metrics.get("mia")) and _num(retrain.get("mia")) else math.nan
    salun = all(_num(m.get(k)) for m in (metrics, retrain) for k in SALUN_INPUTS)
    return {
        **metrics,
        "avg_gap": avg_gap(metrics, retrain) if salun else math.nan,
        "forget_gap": fg,
        "remain_gap": rg,
        "mia_gap": mg,
        "distance": math.hypot(rg, fg) if not math.isnan(fg) else abs(rg),
    }
