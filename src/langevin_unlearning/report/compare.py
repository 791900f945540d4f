"""The comparison table for people: the console table, results/NAME.md (with its provenance file), and what every
row and column means.

Three rows are references, not unlearning methods, and every table says which is which (``ROLES``):
the retrained model is the target; the ``retrain`` method (retraining once more, with another seed) shows how far
two retrainings land from each other, the seed-noise floor no method can beat by more than luck; the original
is doing nothing. A method farther from the target than the original is flagged: doing nothing would have been
closer.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..evaluation.analyses import ANALYSIS_COLUMNS
from ..experiments.compare import HEADERS, table_columns
from ..store.atomic import write_json, write_text
from ..store.provenance import provenance
from . import units
from .tables import CONSOLE_WIDTH, markdown_table, text_table, wrap

TARGET, ORIGINAL, FLOOR = "retrain (target)", "original", "retrain"
ROLES = {TARGET: "target", FLOOR: "seed-noise floor", ORIGINAL: "doing nothing"}
FARTHER = "farther than doing nothing"
ROLE_LEGEND = (
    "role: target = the retrained model every row is measured against; seed-noise floor = retraining once more "
    "with another seed (how far two retrainings land apart); doing nothing = the original, before unlearning; "
    f"{FARTHER} = the original is closer to the target than this method."
)
# the columns the console shows (the CSV and the markdown keep all of them); an analysis asked for is shown too
CONSOLE_COLUMNS = ["forget_acc", "remain_acc", "gap", "avg_gap", "mia_efficacy", "unlearn_seconds", *ANALYSIS_COLUMNS]

LEGEND = (
    "Test-set accuracies on the forget class (`forget`) and the other classes (`remain`), in percent; `MIA`: loss-based membership "
    "attack accuracy on the deleted images (50% = can't tell); `agree`/`JS`: agreement with and Jensen-Shannon divergence to the retrained "
    "model, the target; `gap` = |Δforget| + |Δremain| + |ΔMIA| to it in percentage points (lower is better); `Avg.Gap`: SalUn's mean "
    "of |ΔUA|, |ΔRA|, |ΔTA|, |ΔMIA-Efficacy| in percentage points; `speedup` = retraining time / unlearning time; "
    "`MIA-eff`: share of deleted images an SVC on true-class confidence calls non-members (the retrained model's value is the target). "
    "With several seeds: mean ± half-width of the 95% t-interval over seeds, `*` = the retrained model's value lies inside it (within seed noise).\n"
)
SELECTIVE = (
    "`--selective`: `forget`/`remain` are accuracies on the training forget/remain images, not the test split.\n"
)
ANALYSES = (
    "`relearn`: SGD steps on a small forget sample until forget accuracy is back to half the original's (fewer than retrain = "
    "hidden, not removed); `probe`: accuracy of a linear head on the frozen features, fitted on remain images plus that small "
    "forget sample, on held-out forget images (docs/analyses.md).\n"
)


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def closeness(row: dict) -> tuple[str, float] | None:
    """(column, value) of the score rows are ranked by: Avg. Gap where the row has it, else gap."""
    for col in ("avg_gap", "gap"):
        v = _number(row.get(col))
        if v is not None:
            return col, v
    return None


def is_method(label: str) -> bool:
    return label not in ROLES


def roles(rows: list[dict], label: str = "method") -> list[str]:
    """Each row's role: a reference's name (ROLES), FARTHER for a method the original is closer than, else ''."""
    original = next((closeness(r) for r in rows if r.get(label) == ORIGINAL), None)
    out = []
    for r in rows:
        name = r.get(label) or ""
        if not is_method(name):
            out.append(ROLES[name])
            continue
        own = closeness(r)
        failed = bool(str(r.get("error") or "").strip())
        farther = original is not None and own is not None and own[0] == original[0] and own[1] > original[1]
        out.append(FARTHER if farther and not failed else "")
    return out


def nothing_beats_original(rows: list[dict], label: str = "method") -> str:
    """A sentence when the original is closer to the target than every method that ran (else '')."""
    methods = [r for r in rows if is_method(r.get(label) or "") and not str(r.get("error") or "").strip()]
    if methods and all(role == FARTHER for r, role in zip(rows, roles(rows, label)) if r in methods):
        return (
            "The original, before any unlearning, is closer to the retrained model than every method here: "
            "none of them did better than doing nothing."
        )
    return ""


def _cell(row: dict, col: str) -> str:
    """'mean', or with several seeds 'mean ± half-width of the 95% interval', '*' when the target lies inside it."""
    mean = row.get(col, math.nan)
    if _number(mean) is None:
        return "-"
    if row.get("seeds", 1) > 1:
        lo, hi = _number(row.get(f"{col}_ci95_low")), _number(row.get(f"{col}_ci95_high"))
        star = "*" if col in str(row.get("within_noise") or "").split() else ""
        if lo is not None and hi is not None:
            return f"{units.fmt(col, mean)} ± {units.fmt(col, (hi - lo) / 2)}{star}"
    return units.fmt(col, mean)


def header(col: str) -> str:
    """The short header with its unit, e.g. 'forget (%)', 'gap (pp)'."""
    return units.header(col, HEADERS.get(col, col))


def people_rows(rows: list[dict], columns: list[str] | None = None) -> list[dict]:
    """Rows for people: method, role, then each column in its unit under its short header."""
    columns = columns if columns is not None else table_columns(rows)
    errors = any(r.get("error") for r in rows)
    out = []
    for r, role in zip(rows, roles(rows)):
        d = {"method": r["method"], "role": role, **{header(c): _cell(r, c) for c in columns}}
        if errors:
            d["error"] = r.get("error") or ""
        out.append(d)
    return out


def shown_columns(rows: list[dict]) -> list[str]:
    return ["method", "role", *(header(c) for c in table_columns(rows))] + (
        ["error"] if any(r["error"] for r in rows) else []
    )


def legend(rows: list[dict]) -> str:
    text = ROLE_LEGEND
    sentence = nothing_beats_original(rows)
    return text + (f"\n{sentence}" if sentence else "")


def console_table(rows: list[dict], name: str | None = None, width: int = CONSOLE_WIDTH) -> str:
    """The key columns, at most ``width`` characters a line; the rest is in results/NAME.csv and NAME.md.
    A failed method says so in its role, and its error follows the table, cut to one line."""
    columns = [c for c in CONSOLE_COLUMNS if c in table_columns(rows)]
    shown = people_rows(rows, columns)
    failures = []
    for d in shown:
        error = d.pop("error", "")
        if error:
            d["role"] = "failed"
            failures.append(_cut(f"{d['method']} failed: {error}", width))
    table = text_table(shown, list(shown[0]) if shown else [], max_width=width)
    where = f"results/{name}.md" if name else "the markdown table"
    return "\n".join([table, *failures, wrap(legend(rows) + f"\nAll columns: {where}.", width)])


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def compare_markdown(
    name: str, rows: list[dict], setup, seeds: list[int], *, selective: bool = False, analyses: bool = False
) -> str:
    meta = setup.original_meta
    sentence = nothing_beats_original(rows)
    return (
        f"# {name}\n\n{setup.split.summary()}; dataset {meta.dataset}, model {meta.model['name']} "
        f"(width {meta.model.get('width', 1)}), device {setup.device}, seeds {seeds}.\n"
        + LEGEND
        + (SELECTIVE if selective else "")
        + (ANALYSES if analyses else "")
        + "\n"
        + markdown_table(people_rows(rows), shown_columns(rows))
        + "\n\n"
        + ROLE_LEGEND
        + "\n"
        + (f"\n**{sentence}**\n" if sentence else "")
    )


def write_compare(
    results_dir: Path,
    name: str,
    rows: list[dict],
    setup,
    seeds: list[int],
    *,
    command: str,
    paths: dict,
    methods: list[str],
    selective: bool = False,
    analyses: bool = False,
) -> list[Path]:
    """results/NAME.md and NAME.provenance.json beside the CSV ``run_compare`` keeps (what ``report NAME`` reads)."""
    md = write_text(
        results_dir / f"{name}.md", compare_markdown(name, rows, setup, seeds, selective=selective, analyses=analyses)
    )
    prov = write_json(
        results_dir / f"{name}.provenance.json",
        provenance(setup, seeds, command=command, paths=paths, extra={"methods": methods}),
    )
    return [md, prov]
