"""The unit table in docs/units.md names every column units.py converts, with its unit."""

from __future__ import annotations

from pathlib import Path

from langevin_unlearning.report import units

DOC = Path(__file__).resolve().parents[2] / "docs" / "units.md"


def test_every_converted_column_is_documented_with_its_unit():
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| ") and "`" in line]
    for column, unit in units.UNITS.items():
        row = next((r for r in rows if f"`{column}`" in r), None)
        assert row is not None, f"{column} is missing from docs/units.md"
        if unit.suffix:
            assert f"(`{unit.suffix}`)" in row, (column, row)
        assert f"| {unit.decimals} |" in row, (column, row)


def test_one_quantity_reads_the_same_everywhere():
    assert units.fmt("gap", 0.8784) == "87.84" and units.fmt("avg_gap", 87.84) == "87.84"
    assert units.fmt("forget_acc", 0.74) == "74.0" and units.fmt("forget_acc", 0.0471) == "4.7"
    assert units.fmt("forget_acc", 0) == "0.0" and units.fmt("remain_acc", float("nan")) == "-"
    assert units.header("gap", "gap") == "gap (pp)" and units.header("forget_acc", "forget") == "forget (%)"
