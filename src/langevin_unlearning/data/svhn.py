"""SVHN (cropped digits) from torchvision's on-disk layout: ``train_32x32.mat`` and ``test_32x32.mat``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from .base import DataOptions, ImageDataset, Split, resize_uint8
from .files import candidate_folders, download_or_explain, find_folder
from .registry import register_dataset

MEAN, STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
SUBDIR = "svhn"
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}  # extra_32x32.mat is not used


def read_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 32, 32) images and int64 labels 0..9 from one SVHN .mat file."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except Exception as e:  # truncated download, HDF5 (v7.3) file, not a .mat at all
        raise UserError(f"{path} is unreadable ({type(e).__name__}); delete it and re-download") from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise UserError(f"{path} has no uint8 (32, 32, 3, N) 'X' with 'y'; delete it and re-download")
    labels = y.astype(np.int64).reshape(-1)
    if len(labels) != x.shape[3]:
        raise UserError(f"{path} has {x.shape[3]} images but {len(labels)} labels; delete it and re-download")
    labels[labels == 10] = 0  # SVHN stores the digit 0 as label 10
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path} has labels outside 1..10; delete it and re-download")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))  # (H, W, C, N) -> (N, C, H, W)
    return images, torch.from_numpy(labels)


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES.values())


def _find(options: DataOptions) -> Path | None:
    return find_folder(candidate_folders(options, [SUBDIR]), _complete)


def locate(arg, options: DataOptions) -> str | None:
    folder = _find(options)
    return str(folder) if folder else None


def _fetch(root: Path) -> Path:
    import torchvision

    folder = root / SUBDIR
    for split in FILES:
        torchvision.datasets.SVHN(str(folder), split=split, download=True)
    return folder


@register_dataset("svhn", summary="SVHN cropped digits, 73257/26032 32x32 RGB, 10 classes", locate=locate)
def load_svhn(arg: str | None, options: DataOptions) -> ImageDataset:
    folder = _find(options) or download_or_explain(
        "SVHN",
        _fetch,
        options,
        how_to=f"put {' and '.join(FILES.values())} in --data-dir or $LANGEVIN_DATA",
        missing=f"put {' and '.join(FILES.values())} in --data-dir or $LANGEVIN_DATA, or allow the download",
    )

    def split(kind: str) -> Split:
        images, labels = read_mat(folder / FILES[kind])
        return Split(resize_uint8(images, options.image_size), labels)

    classes = [str(i) for i in range(10)]
    # digits: a mirrored 2 or 5 is not a digit, so no horizontal flips
    return ImageDataset("svhn", split("train"), split("test"), classes, MEAN, STD, hflip=False, source=str(folder))
