"""Finding a dataset's files on disk, and downloading them when they are not there.

Every loader searches the same roots (``registry.search_roots``: --data-dir, $LANGEVIN_DATA, ./data), each
root itself and then the sub-folders the usual tools write (e.g. torchvision's ``cifar-10-batches-py``),
then folders of its own (a system package, a tool's home). When nothing is found and downloads are
allowed, it fetches into the first root; when that fails, or downloads are off, the one-line error
says how to get the files by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..core.errors import UserError
from .base import DataOptions
from .registry import download_root, search_roots


def candidate_folders(
    options: DataOptions, subfolders: Sequence[str | Path] = (), extra: Sequence[Path] = ()
) -> list[Path]:
    """The folders to search, in order: each search root, then its ``subfolders``; then ``extra``."""
    folders = []
    for root in search_roots(options):
        folders += [root, *(root / sub for sub in subfolders)]
    return folders + list(extra)


def find_folder(candidates: Iterable[Path], complete: Callable[[Path], bool]) -> Path | None:
    """The first of ``candidates`` that holds the whole dataset (``complete``), or None."""
    return next((folder for folder in candidates if complete(folder)), None)


def download_or_explain(
    name: str, fetch: Callable[[Path], Path], options: DataOptions, *, how_to: str, missing: str
) -> Path:
    """The folder ``fetch(download root)`` filled, when ``options.download`` allows it.

    Downloads off: ``UserError("<name> not found; <missing>")``. A failed download (no network, a proxy,
    a full disk: all end the same way for the user) names the error and the ways to get the files by
    hand: ``how_to``, or a run with internet access."""
    if not options.download:
        raise UserError(f"{name} not found; {missing}")
    try:
        return fetch(download_root(options))
    except Exception as e:
        raise UserError(
            f"{name} not found and download failed ({type(e).__name__}); get it one of these ways: {how_to}, or run once with internet access"
        ) from None
