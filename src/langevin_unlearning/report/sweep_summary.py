"""Summaries of stored sweep runs: which settings vary, and mean/std over seeds per settings combination."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

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
]
OPTIONAL = {"noise_flip_share", "crossed_share"}
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


def summary_table(rows: Sequence[dict], references: dict[str, dict], by: Sequence[str] | None = None) -> str:
    """The printed table: the reference models, then one line per settings combination (mean ± std over seeds)."""
    by = list(by if by is not None else varying(ok_rows(rows)))
    shown = [
        (m, units.header(m, h))
        for m, h in SHOWN
        if m not in OPTIONAL or any(_value(r["metrics"].get(m)) is not None for r in ok_rows(rows))
    ]
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
    failed = [r for r in rows if r.get("error")]
    text = text_table(lines, ["model", *by, "runs", *(h for _, h in shown)])
    if failed:
        text += f"\n{len(failed)} run(s) failed (retried by the next call), e.g.: {failed[0]['error']}"
    return text


def best(rows: Sequence[dict], by: Sequence[str], metric: str = "avg_gap") -> dict | None:
    groups = [g for g in aggregate(rows, by) if not math.isnan(g[metric])]
    return min(groups, key=lambda g: (g[metric], g["unlearn_seconds"])) if groups else None
