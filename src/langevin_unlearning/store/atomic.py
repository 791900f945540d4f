"""Atomic file writes: a reader sees the old file or the new one, never half of one.

``atomic_write`` writes a temporary sibling and renames it over the target; ``atomic_dir`` does the same
for a whole folder (a run's weights and sidecar land together or not at all). Temporary files are
removed on any failure (their names hold the writer's pid, so the next write removes those a killed
writer left: store/locks.py), and what is written gets the usual permissions (0666/0777 less the umask).
JSON never holds NaN or infinity (invalid JSON): they are written as ``null``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from .locks import clean_stale, temp_prefix

# files a run folder may hold; replacing a folder with anything else in it is refused (see atomic_dir)
RUN_FILES = {"model.safetensors", "model.json", "metrics.json"}


def umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; return the folders it created, deepest first (for ``remove_empty``)."""
    created = []
    p = Path(folder)
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    return created


def remove_empty(created: list[Path]) -> None:
    """Undo ``make_parents`` after a failure: a failed write leaves no empty folder behind."""
    for p in created:
        try:
            p.rmdir()
        except OSError:  # not empty (another writer) or gone: leave it
            return


def _name_target(e: OSError, tmp: str | Path, target: Path) -> None:
    """An error about the temporary sibling is reported as one about the file the user asked for."""
    for attr in ("filename", "filename2"):
        name = getattr(e, attr, None)
        if isinstance(name, str) and name.startswith(str(tmp)):
            setattr(e, attr, str(target) + name[len(str(tmp)) :])


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    created = make_parents(path.parent)
    clean_stale(path.parent, path.name)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        remove_empty(created)
        if isinstance(e, OSError) and tmp is not None:
            _name_target(e, tmp, path)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, write)


def json_text(obj: Any) -> str:
    """Indented JSON with NaN/inf as null (strict JSON), numpy/torch scalars as numbers."""
    return json.dumps(_finite(obj), indent=2, sort_keys=False, default=_jsonable, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json_text(obj))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return _finite(obj.item())
    return obj


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def foreign_entries(folder: Path, allowed: set[str] = RUN_FILES) -> list[str]:
    """Names in ``folder`` that a run folder would not hold (hidden temporary files aside)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name not in allowed and not p.name.startswith("."))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, allowed: set[str] = RUN_FILES) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it replaces ``path`` in one step.

    On any exception the temporary folder is removed and ``path`` is untouched. An existing ``path`` is
    replaced only when it holds nothing but ``allowed`` files (a previous run), never a user's other files.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(17, "a file is in the way of the run folder", str(path))
    foreign = foreign_entries(path, allowed)
    if foreign:
        raise UserError(
            f"{path} exists and holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}, not a run; choose a new folder"
        )
    # the parent folders are made only now, after the work, and removed again if the write fails
    created = make_parents(path.parent)
    clean_stale(path.parent, path.name)
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp"))
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp made it 0700
        yield tmp
        _replace_dir(tmp, path)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                _name_target(e, tmp, path)
        remove_empty(created)
        raise


def _replace_dir(new: Path, target: Path) -> None:
    """Move folder ``new`` to ``target``: one rename if ``target`` is absent, else an atomic exchange
    (Linux renameat2) and removal of the old folder; elsewhere two renames (old kept aside until the end)."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old run
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=".old"))
    os.rename(target, old / "run")
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old / "run", target)
        raise
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux >= 3.15); False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0
