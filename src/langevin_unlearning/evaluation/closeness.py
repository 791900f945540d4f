"""Closeness to the retrained model: the one place that defines how far a row is from the target.

    gap        |Δforget_acc| + |Δremain_acc| + |ΔMIA|  (test-set accuracies and the loss MIA; compare, the API)
    distance   sqrt(Δremain_acc² + Δforget_acc²)         (the published ablation's distance; sweeps)

Both are 0 for the retrained model itself and grow with any difference; rows carry the signed per-metric
gaps too (``forget_gap``, ``remain_gap``, ``mia_gap``), so a reader can see which way a method errs.
"""

from __future__ import annotations

import math

GAP_METRICS = ("forget_acc", "remain_acc", "mia")


def gap(row: dict, target: dict) -> float:
    """Sum of the absolute differences to ``target`` over GAP_METRICS (NaN when one side lacks a value)."""
    return sum(abs(row[k] - target[k]) for k in GAP_METRICS)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(v)


def with_gaps(metrics: dict, retrain: dict) -> dict:
    """``metrics`` plus the signed gaps to ``retrain`` and the sweep distance (rows with an error pass through)."""
    if "error" in metrics:
        return metrics
    fg = (
        metrics["forget_acc"] - retrain["forget_acc"]
        if _num(metrics.get("forget_acc")) and _num(retrain.get("forget_acc"))
        else math.nan
    )
    rg = metrics["remain_acc"] - retrain["remain_acc"]
    mg = metrics["mia"] - retrain["mia"] if _num(metrics.get("mia")) and _num(retrain.get("mia")) else math.nan
    return {
        **metrics,
        "forget_gap": fg,
        "remain_gap": rg,
        "mia_gap": mg,
        "distance": math.hypot(rg, fg) if not math.isnan(fg) else abs(rg),
    }
