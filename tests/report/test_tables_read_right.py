"""What a person sees in the comparison tables: fixed decimals per column, units in the headers, a console table
that fits 120 columns, reference rows that say what they are, and methods farther from the target than doing nothing."""

from __future__ import annotations

import math

from langevin_unlearning.methods import METHODS
from langevin_unlearning.report.compare import (
    FARTHER,
    ROLES,
    console_table,
    nothing_beats_original,
    people_rows,
    roles,
)
from langevin_unlearning.report.tables import markdown_table, text_table


def row(name: str, forget=0.5, remain=0.9, gap=0.2, avg_gap=5.0, seeds=1, error="") -> dict:
    r = {
        "method": name,
        "seeds": seeds,
        "forget_acc": forget,
        "remain_acc": remain,
        "test_acc": remain,
        "mia": 0.5,
        "mia_efficacy": 0.3,
        "agreement_with_retrain": 0.95,
        "js_to_retrain_forget": 0.0471,
        "js_to_retrain_remain": 0.74,
        "unlearn_seconds": 12.3456,
        "speedup": 8.0,
        "gap": gap,
        "avg_gap": avg_gap,
        "error": error,
        "within_noise": "forget_acc" if seeds > 1 else "",
    }
    for c in list(r):
        if isinstance(r[c], float):
            r[f"{c}_ci95_low"], r[f"{c}_ci95_high"] = r[c] * 0.9, r[c] * 1.1
    return r


def realistic_rows(seeds: int = 3) -> list[dict]:
    rows = [
        row("original", forget=0.987, gap=0.9, avg_gap=30.0),
        row("retrain (target)", forget=0.0, gap=0.0, avg_gap=0.0),
    ]
    for i, name in enumerate(METHODS.names()):
        rows.append(row(name, forget=0.01 * i, gap=0.05 * i, avg_gap=2.5 * i, seeds=seeds))
    rows.append(row("composed-langevin-then-finetune", seeds=1))
    rows.append(row("scrub-big", error="RuntimeError: CUDA out of memory. Tried to allocate 20.00 GiB " * 3))
    return rows


def test_console_table_fits_120_columns_with_every_method_and_seeds():
    rows = realistic_rows(seeds=3)
    assert len(METHODS.names()) >= 12
    text = console_table(rows, "demo")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120, max(lines, key=len)
    for name in METHODS.names():  # every row is there
        assert any(line.startswith(name + " ") for line in lines), name


def test_columns_keep_fixed_decimals_and_say_their_unit():
    rows = [{"forget_acc": 0.74, "gap": 0.0471, "avg_gap": 0.0}, {"forget_acc": 0.0, "gap": 0.0, "avg_gap": 12.3}]
    text = text_table(rows)
    assert "forget_acc (%)" in text and "gap (pp)" in text and "avg_gap (pp)" in text
    body = [line.split() for line in text.splitlines()[2:]]
    assert body == [["74.0", "4.71", "0.00"], ["0.0", "0.00", "12.30"]]
    md = markdown_table(rows)
    assert "| 74.0 | 4.71 | 0.00 |" in md and "| 0.0 | 0.00 | 12.30 |" in md


def test_unknown_float_columns_get_one_number_of_decimals():
    text = text_table([{"x": 0.74}, {"x": 0.0471}, {"x": 0.0}])
    assert [line.strip() for line in text.splitlines()[2:]] == ["0.7400", "0.0471", "0.0000"]


def test_reference_rows_say_what_they_are():
    rows = [row("original", avg_gap=30.0), row("retrain (target)", avg_gap=0.0), row("retrain", avg_gap=1.0)]
    assert roles(rows) == [ROLES["original"], ROLES["retrain (target)"], ROLES["retrain"]]
    text = console_table(rows)
    assert "seed-noise floor" in text and "doing nothing" in text and "target" in text
    md = markdown_table(people_rows(rows), list(people_rows(rows)[0]))
    assert "| retrain | seed-noise floor |" in md


def test_methods_farther_than_the_original_are_flagged():
    rows = [
        row("original", avg_gap=10.0),
        row("retrain (target)", avg_gap=0.0),
        row("good", avg_gap=3.0),
        row("bad", avg_gap=12.0),
    ]
    assert roles(rows)[2:] == ["", FARTHER]
    assert nothing_beats_original(rows) == ""
    rows[2]["avg_gap"] = 11.0
    assert "closer to the retrained model than every method" in nothing_beats_original(rows)
    assert "every method" in console_table(rows)


def test_gap_is_used_where_avg_gap_is_missing():
    rows = [row("original", gap=0.3, avg_gap=math.nan), row("m", gap=0.5, avg_gap=math.nan)]
    assert roles(rows) == [ROLES["original"], FARTHER]


def test_failed_method_is_not_flagged():
    rows = [row("original", avg_gap=1.0), row("m", avg_gap=math.nan, gap=math.nan, error="boom")]
    assert roles(rows)[1] == ""


def test_a_failed_method_and_its_error_stay_visible_in_the_console():
    lines = console_table(realistic_rows(3)).splitlines()
    assert any(line.startswith("scrub-big") and "failed" in line for line in lines)
    assert any(line.startswith("scrub-big failed: RuntimeError: CUDA out of memory") for line in lines)
    assert max(len(line) for line in lines) <= 120
