"""One writer per result name: an exclusive advisory lock beside what a command writes.

with exclusive(Path("results/exp1"), "unlearn --name exp1"):   # lock file results/.exp1.lock
    ...                                                        # write results/exp1.csv, runs/exp1/ ...

A second writer of the same name fails at once with one line naming the holder's pid and command (or,
with ``wait=True``, blocks until the holder is done). Readers take no lock and are never blocked. The
lock is ``flock`` on an open file, so the kernel releases it when its process dies, even by SIGKILL: a
lock file left by a killed writer is harmless (the next writer takes it over); a writer that ends
normally removes its lock file while still holding it, and a waiter checks it locked the file that is
still in place.

``clean_stale(folder, name)`` removes the temporary folders and files of ``name`` (``.NAME.PID.*.tmp``)
left by writers that died before their final rename, and says so in one warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import UserError

TEMP_SUFFIXES = (".tmp", ".old")


def lock_file(target: str | os.PathLike) -> Path:
    """The lock file of a result: a hidden sibling ``.NAME.lock`` (so run folders stay free of it)."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 400).decode("utf-8", "replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def exclusive(target: str | os.PathLike, what: str, *, wait: bool = False, flag: str = "--name") -> Iterator[Path]:
    """Hold the write lock of ``target`` (e.g. results/exp1 or runs/exp1) for the ``with`` block.

    ``what`` names this writer (e.g. ``unlearn --name exp1``) for the message a refused writer prints;
    ``flag`` is the option a refused user can change to write elsewhere.
    """
    target = Path(target)
    path = lock_file(target)
    made = _make_parents(path.parent)
    try:
        fd = _acquire(path, target, wait, flag)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        os.ftruncate(fd, 0)  # a killed holder's pid may still be in it
        os.write(fd, f"{os.getpid()} {what}\n".encode())
        yield path
    finally:
        # unlinked while still held: a waiter on this file then sees it is gone and opens the new one
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        _remove_empty(made)  # a command that failed before writing leaves no new folder behind


def _make_parents(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing ancestors; return the ones made, deepest first."""
    made = []
    while not folder.exists() and folder.parent != folder:
        made.append(folder)
        folder = folder.parent
    for d in reversed(made):
        d.mkdir(exist_ok=True)
    return made


def _remove_empty(folders: list[Path]) -> None:
    for d in folders:
        try:
            d.rmdir()
        except OSError:  # not empty: the command wrote there
            break


def _acquire(path: Path, target: Path, wait: bool, flag: str) -> int:
    while True:
        # O_CREAT with 0o666: the umask gives the usual permissions; never truncate before holding the
        # lock, the file holds the holder's pid and command for the message below
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            pid, _, command = holder.partition(" ")
            by = f"process {pid}" if pid.isdigit() else "another process"
            doing = f" (another `{command}`)" if command else ""
            raise UserError(
                f"{target} is being written by {by}{doing}; wait for it (or pass --wait) or pick another {flag}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed this file as we waited: lock the current one


@contextlib.contextmanager
def all_of(locks: list) -> Iterator[None]:
    """Hold several ``exclusive`` locks, taken in the order given (callers keep one order: runs, then results)."""
    with contextlib.ExitStack() as stack:
        for lock in locks:
            stack.enter_context(lock)
        yield


def temp_prefix(name: str) -> str:
    """Prefix of a temporary sibling of ``name`` made by this process: the pid lets a later run tell a
    dead writer's leftovers from a live writer's work in progress."""
    return f".{name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale_temps(folder: str | os.PathLike, name: str) -> list[Path]:
    """Temporary siblings ``.NAME.PID.*.tmp`` (or ``.old``) in ``folder`` whose writer PID is dead."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    prefix = f".{name}."
    found = []
    for p in folder.iterdir():
        if not (p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIXES)):
            continue
        pid = p.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            found.append(p)
    return sorted(found)


def clean_stale(folder: str | os.PathLike, name: str) -> list[Path]:
    """Remove the dead writers' temporaries of ``name`` in ``folder``; one warning line when there were any."""
    found = stale_temps(folder, name)
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
    if found:
        shown = ", ".join(str(p) for p in found[:3]) + (" ..." if len(found) > 3 else "")
        warnings.warn(
            f"removed {len(found)} temporary file(s) left by an interrupted writer of {name}: {shown}", stacklevel=2
        )
    return found
