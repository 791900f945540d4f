"""Dataset registry. A name is ``key`` or ``key:argument`` (``medmnist:pathmnist``, ``folder:/data/mri``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError, doing
from ..core.registry import Registry
from .base import DataOptions, ImageDataset


@dataclass(frozen=True)
class DatasetEntry:
    load: Callable[[str | None, DataOptions], ImageDataset]
    locate: Callable[[str | None, DataOptions], str | None]  # where its files are, None if absent
    summary: str
    argument: str | None = None  # e.g. "<flag>" or "<path>" when the name takes one


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def register_dataset(name: str, *, summary: str, locate, argument: str | None = None):
    def add(load):
        DATASETS.register(name)(DatasetEntry(load, locate, summary, argument))
        return load

    return add


def split_name(name: str) -> tuple[str, str | None]:
    key, _, arg = name.partition(":")
    return key.lower(), (arg or None)


def load_dataset(name: str, options: DataOptions | None = None) -> ImageDataset:
    """Load a dataset by name, e.g. ``load_dataset("digits")`` or ``load_dataset("medmnist:pathmnist")``."""
    options = options or DataOptions()
    key, arg = split_name(name)
    entry = DATASETS.get(key)
    if entry.argument and not arg:
        raise UserError(f"dataset {key!r} needs an argument: use {key}:{entry.argument}")
    if not entry.argument and arg:
        raise UserError(f"dataset {key!r} takes no argument; use {key!r}")
    with doing(f"loading the dataset {name}"):
        ds = entry.load(arg, options)
    ds.name = name
    check_labels(ds)
    return ds


def check_labels(ds: ImageDataset) -> None:
    """Every label must name one of the dataset's classes (a corrupt file must not size anything)."""
    for split_name, split in (("train", ds.train), ("test", ds.test)):
        labels = split.labels
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= ds.num_classes):
            raise UserError(
                f"{ds.name} has {split_name} labels from {int(labels.min())} to {int(labels.max())}, but only classes 0..{ds.num_classes - 1}; "
                "the dataset files are corrupt, re-download them"
            )


def search_roots(options: DataOptions) -> list[Path]:
    """Folders searched for dataset files, in order: --data-dir, $LANGEVIN_DATA, ./data."""
    roots = []
    if options.data_dir is not None:
        roots.append(Path(options.data_dir))
    if os.environ.get("LANGEVIN_DATA"):
        roots.append(Path(os.environ["LANGEVIN_DATA"]))
    roots.append(Path("data"))
    return roots


def download_root(options: DataOptions) -> Path:
    return search_roots(options)[0]
