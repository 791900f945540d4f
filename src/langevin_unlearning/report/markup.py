"""Small HTML building blocks. Every value from a results file goes through ``esc`` exactly once."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

MAX_CELL = 120  # characters of a text cell shown before it is cut


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_number(value: float | None, kind: str = "sig") -> str:
    """'acc': 0.987; 'sec': 12.35; 'x': 12.3; 'sig': 3 significant digits. Missing or NaN -> '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if kind == "int" or (kind == "sig" and float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if kind == "acc":
        return f"{value:.3f}"
    if kind == "sec":
        return f"{value:,.2f}"
    if kind == "x":
        return f"{value:,.1f}"
    return f"{value:.3g}"


def fmt_value(value: Any) -> str:
    """Escaped text for one JSON / SQLite / CSV value of unknown type."""
    if isinstance(value, bool) or value is None:
        return esc("–" if value is None else str(value).lower())
    if isinstance(value, (int, float)):
        return esc(fmt_number(float(value)) if isinstance(value, float) else f"{value}")
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):  # a sha256: keep whole, allow wrapping
        return f'<span class="mono hash">{esc(text)}</span>'
    if len(text) > MAX_CELL:
        return f'<span title="{esc(text)}">{esc(text[:MAX_CELL])}…</span>'
    return esc(text)


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    row_classes: Sequence[str] | None = None,
    cls: str = "",
    header_classes: Sequence[str] | None = None,
) -> str:
    """A table from already escaped cells; a cell given as (html, class) gets that class."""
    head = "".join(f"<th{_cls((header_classes or [''] * len(header))[i])}>{h}</th>" for i, h in enumerate(header))
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td{_cls(c[1])}>{c[0]}</td>" if isinstance(c, tuple) else f"<td>{c}</td>" for c in row)
        body.append(f"<tr{_cls(row_classes[i] if row_classes else '')}>{cells}</tr>")
    return f'<div class="scroll"><table{_cls(cls)}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _cls(name: str) -> str:
    return f' class="{esc(name)}"' if name else ""


def figure(data: bytes, mime: str, caption: str, alt: str | None = None) -> str:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<figure><img src="{uri}" alt="{esc(alt or caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def json_html(obj: Any, depth: int = 0) -> str:
    """Nested key/value tables for a JSON object; a list of objects becomes one table."""
    if depth > 5:
        return esc(str(obj)[:MAX_CELL])
    if isinstance(obj, dict):
        if not obj:
            return '<span class="muted">(empty)</span>'
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{json_html(v, depth + 1)}</td></tr>" for k, v in obj.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(obj, list):
        if obj and all(isinstance(x, dict) for x in obj):
            columns = list(dict.fromkeys(k for x in obj for k in x))
            return table(
                [esc(c) for c in columns],
                ([json_html(x.get(c), depth + 1) for c in columns] for x in obj[:50]),
                cls="kv",
            ) + (f'<p class="muted">{len(obj) - 50} more not shown</p>' if len(obj) > 50 else "")
        shown = ", ".join(json_html(x, depth + 1) for x in obj[:12])
        return f"[{shown}{f', … ({len(obj)} values)' if len(obj) > 12 else ''}]"
    return fmt_value(obj)


def section(anchor: str, title: str, explain: str, body: str) -> str:
    """``explain`` is trusted markup written in this package; ``body`` is already escaped."""
    return f'<section id="{esc(anchor)}">\n<h2>{esc(title)}</h2>\n<p class="explain">{explain}</p>\n{body}\n</section>'
