"""One unit per quantity, for everything a person reads: console tables, Markdown, the HTML report, plots.

Results files (metrics JSON, CSV, SQLite) store accuracies and shares as fractions in [0, 1] and SalUn's
``avg_gap`` in percentage points, as the evaluation computes them. What people read is converted here, once:

    accuracies, attack rates, shares   percent (%), 1 decimal          0.987 -> 98.7
    every gap and distance             percentage points (pp), 2 dec.  gap 0.8784 -> 87.84
    seconds                            2 decimals;  speedup 1 decimal;  divergences 4 decimals

so a column never mixes 0.74 with 0.0471, and a gap reads the same in a table, a plot and a summary line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unit:
    scale: float  # stored value x scale = shown value
    decimals: int
    suffix: str  # said in the header: "%", "pp", "s", "x" or ""


PERCENT = Unit(100.0, 1, "%")
POINTS = Unit(100.0, 2, "pp")  # a difference of two fractions, shown in percentage points
POINTS_STORED = Unit(1.0, 2, "pp")  # already stored in percentage points
PERCENT_STORED = Unit(1.0, 1, "%")  # SalUn's columns: stored as 100 x a fraction
SECONDS = Unit(1.0, 2, "s")
TIMES = Unit(1.0, 1, "x")
DIVERGENCE = Unit(1.0, 4, "")

UNITS: dict[str, Unit] = {
    **dict.fromkeys(
        (
            "forget_acc",
            "remain_acc",
            "test_acc",
            "train_forget_acc",
            "train_remain_acc",
            "mia",
            "mia_efficacy",
            "agreement_with_retrain",
            "crossed_share",
            "noise_flip_share",
            "probe_acc",
        ),
        PERCENT,
    ),
    **dict.fromkeys(("gap", "distance", "forget_gap", "remain_gap", "mia_gap"), POINTS),
    "avg_gap": POINTS_STORED,
    **dict.fromkeys(("UA", "RA", "TA", "MIA-Efficacy"), PERCENT_STORED),
    "unlearn_seconds": SECONDS,
    "train_seconds": SECONDS,
    "speedup": TIMES,
    "js_to_retrain_forget": DIVERGENCE,
    "js_to_retrain_remain": DIVERGENCE,
    "relearn_steps": Unit(1.0, 1, "steps"),
    # the audit's scores and the retrain-free signal: numbers in [0, 1] read as they are, 3 decimals
    **dict.fromkeys(
        ("F", "F_low", "F_high", "lira_auc", "remain_F", "final_score", "forget_test_auc", "forget_test_dist"),
        Unit(1.0, 3, ""),
    ),
}


def unit_of(column: str) -> Unit | None:
    return UNITS.get(column)


def shown(column: str, value: Any) -> Any:
    """The value as a person reads it (numbers of known columns scaled; anything else unchanged)."""
    u = UNITS.get(column)
    if u is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return value * u.scale


def fmt(column: str, value: Any) -> str:
    """Fixed decimals per column; missing or NaN -> '-'. Unknown columns fall back to str()."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    u = UNITS.get(column)
    if u is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value * u.scale:.{u.decimals}f}"


def header(column: str, label: str | None = None) -> str:
    """``label`` (default: the column name) with its unit, e.g. 'forget (%)', 'gap (pp)'."""
    u = UNITS.get(column)
    label = label or column
    return f"{label} ({u.suffix})" if u is not None and u.suffix else label
