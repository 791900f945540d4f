"""Results tables (CSV) that survive concurrency and crashes.

``write_csv`` replaces a table atomically. ``append_csv`` adds rows under an OS lock on the folder
(``fcntl.flock``), so two processes appending at once keep every row, and rewrites the file atomically,
so a crash keeps the old table. A file that is not one of our tables (binary, or a header that is not
ours) is refused, never merged into.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
from collections.abc import Collection, Iterator
from pathlib import Path

from ..core.errors import UserError
from .atomic import atomic_write

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CSV_LIMIT = 256 * 2**20  # a results table larger than this is not one of ours


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive lock on ``folder`` (flock on its descriptor; no lock file is left behind)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, atomic writes still hold
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_rows(path: Path, first_column: str | None = None) -> list[dict]:
    """Rows of an existing results table; UserError when the file is not one of ours."""
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a results table; choose another --name")
    if path.stat().st_size > CSV_LIMIT:
        raise UserError(
            f"{path} is {path.stat().st_size >> 20} MiB, too large to be one of our results tables; choose another --name or move it"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise UserError(f"{path} is a binary file, not a results table; choose another --name or move it away")
    if not text.strip():
        return []
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if (
        not header
        or not all(_COLUMN.fullmatch(c or "") for c in header)
        or (first_column and header[0] != first_column)
    ):
        shown = ",".join(header)[:60]
        raise UserError(
            f"{path} is not a langevin-unlearn results table (its header is {shown!r}); choose another --name or move it away"
        )
    try:
        rows = list(reader)
    except csv.Error as e:
        raise UserError(f"{path} is not a well-formed CSV ({e}); choose another --name or move it away") from None
    if any(None in r for r in rows):  # more cells than columns
        raise UserError(f"{path} has rows longer than its header; it is not one of our tables, choose another --name")
    return rows


def csv_text(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: _csv_value(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Write rows as a CSV (columns: the union of the rows' keys, in order of appearance), atomically."""
    text = csv_text(rows)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def append_csv(path: Path, rows: list[dict], *, replacing: Collection[str] = ()) -> Path:
    """Append rows to a CSV (a header for a new file), under a folder lock, rewriting it atomically.

    Earlier rows whose ``run`` is in ``replacing`` (run folders this write replaces) are dropped: their weights
    are gone, and a row must never point at another run's model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = next(iter(rows[0]), None) if rows else None
    with folder_lock(path.parent):
        existing = read_rows(path, first) if path.exists() else []
        existing = [r for r in existing if r.get("run") not in set(replacing)]
        return write_csv(path, [*existing, *rows])


def check_table(path: Path, first_column: str | None = None) -> None:
    """Refuse, before any work, a results file we would not be allowed to write."""
    if path.exists():
        read_rows(path, first_column)


def _csv_value(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return " ".join(str(_csv_value(x)) for x in v)
    return v
