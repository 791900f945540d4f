"""Output paths, checked before any work: plain names, writable folders, run folders that are ours.

check_name("exp1")                   --name must be a plain name: no separators, no '..', not empty
prepare_dir(Path("results"), "--results-dir")   write-tested now (a probe file is made and removed)
check_run_target(Path("runs/exp1"), "--out")    absent, or a previous run (never a folder of other files)
check_run_target(..., overwrite=False)           absent: an existing run is replaced only with --overwrite
check_not_input(run_dir, [original, retrain])   never the folder of an input model (it would be replaced)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import UserError
from .atomic import RUN_FILES, foreign_entries

MAX_NAME = 120
_FORBIDDEN = set('/\\:*?"<>|\x00')


def check_name(name: str, flag: str = "--name") -> str:
    """A plain file name: the results file NAME.csv and the run folder NAME are made from it."""
    if name is None or not name.strip():
        raise UserError(f"{flag} is empty; give a plain name such as exp1")
    bad = sorted({c for c in name if c in _FORBIDDEN or ord(c) < 32})
    if bad or name in (".", "..") or name.startswith(".") or name.startswith("-"):
        shown = " ".join(repr(c) for c in bad) if bad else "a leading '.' or '-'"
        raise UserError(
            f"{flag} {name!r} must be a plain name (no path separators, no {shown}); use e.g. exp1 and --runs-dir/--results-dir for the folder"
        )
    if len(name) > MAX_NAME:
        raise UserError(f"{flag} is {len(name)} characters long; use at most {MAX_NAME}")
    return name


def prepare_dir(path: Path, flag: str, *, create: bool = False) -> Path:
    """Prove, before any work, that ``path`` can be written: a probe file is made and removed in it, or
    (when it does not exist yet and ``create`` is False) in its nearest existing ancestor, so a command
    refused later leaves nothing behind. With ``create`` the folder is made now."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder; pass a folder")
    probe_in = path
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise UserError(f"{flag} {path} cannot be made: {probe_in} is a file, not a folder; pass another path")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
            probe_in = path
        fd, probe = tempfile.mkstemp(dir=probe_in, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise UserError(
            f"{flag} {path} is not writable ({reason} in {probe_in}); choose a folder you can write to"
        ) from None
    return path


def check_run_target(path: Path, flag: str, *, overwrite: bool = True, other: str | None = None) -> Path:
    """A run folder to (re)write: absent, or holding only a previous run's files; its parent writable.
    With ``overwrite=False`` a previous run is kept too: replacing it must be asked for (--overwrite)."""
    if str(path).strip() == "" or Path(path).name in ("", "..") or Path(path).resolve() == Path.cwd():
        # "" becomes "." for Path: the run would replace the working folder, found out only after training
        raise UserError(f"{flag} {str(path)!r} names no run folder; pass a new folder such as runs/exp1")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; pass a folder for the run")
    foreign = foreign_entries(path, RUN_FILES)
    if foreign:
        raise UserError(
            f"{flag} {path} exists and holds other files ({', '.join(foreign[:3])}), not a run; choose a new folder"
        )
    if not overwrite and path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()):
        raise UserError(f"{path} already exists; pass --overwrite to replace it, or pick another {other or flag}")
    prepare_dir(path.parent, f"the folder of {flag}")
    return path


def check_not_input(target: Path, inputs: Iterable, flag: str) -> None:
    """Refuse to write ``target`` when it is, or contains, the folder of an input model."""
    target_r = Path(target).resolve()
    for given in inputs:
        if not given:
            continue
        folder = Path(given)
        folder = (folder if folder.is_dir() else folder.parent).resolve()
        if folder == target_r or target_r in folder.parents:
            raise UserError(f"{flag} {target} would overwrite the input model {given}; choose another name or folder")
