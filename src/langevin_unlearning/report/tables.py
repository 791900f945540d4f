"""Plain-text and Markdown tables for results people read.

Numbers of the columns report/units.py knows are shown in its unit with its fixed decimals, and the header says the
unit ("forget_acc (%)"). Other float columns get one fixed number of decimals for the whole column, so a column never
mixes 0.74 with 0.0471. Cells that are already text (e.g. "98.7 ± 0.3") are shown as they are.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from typing import Any

from . import units

CONSOLE_WIDTH = 120  # a console table wider than this wraps in an ordinary terminal
_NUMBER_TEXT = re.compile(r"^[-+]?(\d|\.\d|inf|nan)")


def fmt(value: Any, digits: int = 4) -> str:
    """One value of a column report/units.py does not know: floats with ``digits`` fixed decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def cell(column: str, value: Any, digits: int = 4) -> str:
    """``value`` as a person reads it in ``column``: in the column's unit where units.py knows it."""
    if units.unit_of(column) is not None:
        return units.fmt(column, value)
    return fmt(value, digits)


def _header(column: str) -> str:
    return units.header(column)


def _cells(rows: Sequence[dict], columns: Sequence[str], digits: int) -> list[list[str]]:
    return [[cell(c, r.get(c), digits) for c in columns] for r in rows]


def _numeric(rows: Sequence[dict], column: str) -> bool:
    """Right-align numbers, and text cells that hold a number ("98.7 ± 0.3")."""
    values = [r.get(column) for r in rows]
    return all(
        v is None
        or (isinstance(v, (int, float)) and not isinstance(v, bool))
        or (isinstance(v, str) and (v in ("", "-") or _NUMBER_TEXT.match(v)))
        for v in values
    )


def text_table(
    rows: Sequence[dict], columns: Sequence[str] | None = None, digits: int = 4, *, max_width: int | None = None
) -> str:
    """Aligned columns; numbers right-aligned. With ``max_width``, columns are dropped from the right until every
    line fits (the first column always stays); a last line names the columns left out."""
    columns = list(columns or (rows[0].keys() if rows else []))
    dropped: list[str] = []
    while True:
        text = _text_table(rows, columns, digits)
        if max_width is None or len(columns) <= 1 or max(len(line) for line in text.splitlines()) <= max_width:
            break
        dropped.insert(0, columns.pop())
    if dropped:
        text += "\n" + _wrap(f"not shown here (too wide): {', '.join(dropped)}", max_width or CONSOLE_WIDTH)
    return text


def _text_table(rows: Sequence[dict], columns: Sequence[str], digits: int) -> str:
    cells = _cells(rows, columns, digits)
    heads = [_header(c) for c in columns]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    numeric = [_numeric(rows, c) for c in columns]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(heads), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, subsequent_indent="  ")) if text else text


def wrap(text: str, width: int = CONSOLE_WIDTH) -> str:
    """A legend line under a console table, broken to fit ``width``."""
    return "\n".join(_wrap(part, width) for part in text.split("\n"))


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None, digits: int = 4) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    out = ["| " + " | ".join(_header(c) for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in _cells(rows, columns, digits)]
    return "\n".join(out)
