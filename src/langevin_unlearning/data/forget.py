"""Forget specifications: which training images to forget, as four disjoint index sets.

    class:K       all training images of class K; the test images of class K are the test forget set
    class:K:F     a seeded fraction F of class K's training images; the rest stay in the remain set.
                  The test forget set is still class K's test images (how well the class is recognised).
    indices:FILE  training indices, one per line ('#' comments allowed). The test forget set is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import UserError
from .base import ImageDataset
from .index_file import read_indices


@dataclass(frozen=True)
class ForgetSplit:
    spec: str
    train_forget: Tensor
    train_remain: Tensor
    test_forget: Tensor
    test_remain: Tensor
    forget_class: int | None = None

    def summary(self) -> str:
        return (
            f"{self.spec}: forget {len(self.train_forget)} train / {len(self.test_forget)} test images, "
            f"remain {len(self.train_remain)} train / {len(self.test_remain)} test"
        )


def parse_forget(spec: str, dataset: ImageDataset, seed: int = 0) -> ForgetSplit:
    """Turn a forget spec string into index sets over ``dataset``'s train and test splits."""
    kind, _, rest = spec.partition(":")
    if kind == "class":
        return _class_split(spec, rest, dataset, seed)
    if kind == "indices":
        return _indices_split(spec, rest, dataset)
    raise UserError(f"unknown forget spec {spec!r}; use class:K, class:K:FRACTION or indices:FILE")


def _class_split(spec: str, rest: str, ds: ImageDataset, seed: int) -> ForgetSplit:
    parts = rest.split(":")
    if len(parts) not in (1, 2) or not parts[0].lstrip("-").isascii() or not parts[0].lstrip("-").isdigit():
        raise UserError(f"bad forget spec {spec!r}; use class:K or class:K:FRACTION, e.g. class:3 or class:3:0.5")
    k = int(parts[0])
    if not 0 <= k < ds.num_classes:
        raise UserError(f"class {k} is out of range: {ds.name} has classes 0..{ds.num_classes - 1}")
    fraction = 1.0
    if len(parts) == 2:
        try:
            fraction = float(parts[1])
        except ValueError:
            raise UserError(f"bad fraction in {spec!r}; use a number in (0, 1], e.g. class:{k}:0.5") from None
        if not 0 < fraction <= 1:
            raise UserError(f"fraction {fraction} in {spec!r} must be in (0, 1]")
    in_class = (ds.train.labels == k).nonzero().flatten()
    g = torch.Generator().manual_seed(seed)
    n = int(round(len(in_class) * fraction))
    forget = in_class[torch.randperm(len(in_class), generator=g)[:n]].sort().values
    if len(forget) == 0:
        raise UserError(f"forget spec {spec!r} selects no training images; use a larger fraction")
    test_forget = (ds.test.labels == k).nonzero().flatten()
    test_remain = (ds.test.labels != k).nonzero().flatten()
    return ForgetSplit(spec, forget, _complement(forget, len(ds.train)), test_forget, test_remain, forget_class=k)


def _indices_split(spec: str, path: str, ds: ImageDataset) -> ForgetSplit:
    file = Path(path)
    if not path or not file.is_file():
        raise UserError(f"forget spec {spec!r}: no such file {path!r}; write one training index per line")
    values = read_indices(file)  # index_file.py: ASCII digits only, within int64, text only
    if not values:
        raise UserError(f"{file} lists no indices; the forget set must not be empty")
    forget = torch.tensor(sorted(set(values)), dtype=torch.int64)
    if forget[-1] >= len(ds.train):
        raise UserError(f"{file}: index {int(forget[-1])} is out of range: {ds.name} has {len(ds.train)} training images")
    empty = torch.empty(0, dtype=torch.int64)
    return ForgetSplit(spec, forget, _complement(forget, len(ds.train)), empty, torch.arange(len(ds.test)))


def _complement(idx: Tensor, n: int) -> Tensor:
    keep = torch.ones(n, dtype=torch.bool)
    keep[idx] = False
    return keep.nonzero().flatten()
