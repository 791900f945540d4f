"""Read an ``indices:FILE`` forget list: one ASCII training index per line, ``#`` comments allowed.

Refused with the file and line named: binary files, text that is not UTF-8, non-ASCII digits (``٣``),
signs, numbers beyond int64, files too large to be an index list, and an index listed twice (the same
rule as a where: CSV that names one image in two rows: a repeat is more likely a mistake, such as a
pasted block, than intended).
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError

MAX_BYTES = 512 * 2**20  # 512 MiB: ~50M indices, more than any dataset here
INT64_MAX = 2**63 - 1
_ASCII_DIGITS = frozenset("0123456789")


def read_indices(file: Path) -> list[int]:
    """The indices listed in ``file``, in file order; an index listed twice is refused, naming both lines."""
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise UserError(
                f"{file} is {size >> 20} MiB, too large for an index list; write one training index per line"
            )
        raw = file.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {file} ({e.strerror}); check the path and its permissions") from None
    if b"\x00" in raw:
        raise UserError(f"{file} is a binary file; write one training index per line as plain text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(
            f"{file} is not UTF-8 text (byte {e.start}); write one training index per line as plain text"
        ) from None
    values = []
    seen: dict[int, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        if not set(line) <= _ASCII_DIGITS:
            raise UserError(f"{file}:{lineno}: {line[:40]!r} is not a non-negative integer index (digits 0-9 only)")
        value = int(line)
        if value > INT64_MAX:
            raise UserError(f"{file}:{lineno}: {line[:40]} is beyond any dataset (larger than int64); fix the index")
        if value in seen:
            raise UserError(
                f"{file}:{lineno}: index {value} is already listed on line {seen[value]}; list each index once"
            )
        seen[value] = lineno
        values.append(value)
    return values
