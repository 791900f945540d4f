"""CIFAR-10 from torchvision's on-disk layout (``cifar-10-batches-py``), read without trusting pickle."""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from .base import DataOptions, ImageDataset, Split, resize_uint8
from .files import candidate_folders, download_or_explain, find_folder
from .registry import register_dataset

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
SUBDIR = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
META_FILE = "batches.meta"

try:  # numpy >= 2 moved the private module; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

# The only globals a CIFAR batch needs: enough to rebuild a numpy array, nothing that can run code.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # protocol-5 pickles of arrays
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2 (re-pickled files)
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for data files: dicts, lists, bytes and numpy arrays only."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def load_batch(path: Path) -> dict:
    """One CIFAR pickle as a dict with bytes keys; UserError for anything that is not plain data."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise UserError(f"{path} is not a plain CIFAR-10 batch ({e}); delete it and re-download") from None
    except Exception as e:  # truncated or garbage file
        raise UserError(f"{path} is unreadable ({type(e).__name__}: {e}); delete it and re-download") from None
    if not isinstance(batch, dict):
        raise UserError(f"{path} is not a CIFAR-10 batch (holds {type(batch).__name__}); delete it and re-download")
    return batch


def _read_split(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for name in names:
        path = folder / name
        batch = load_batch(path)
        data, lab = batch.get(b"data"), batch.get(b"labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise UserError(f"{path} has no uint8 (N, 3072) b'data' array; delete it and re-download")
        try:
            lab = np.asarray(lab, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            lab = None
        if lab is None or len(lab) != len(data):
            raise UserError(f"{path} has {len(data)} images but no matching b'labels'; delete it and re-download")
        # each row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major 32x32
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.from_numpy(lab))
    return torch.cat(images), torch.cat(labels)


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TRAIN_FILES + TEST_FILES + [META_FILE])


def _find(options: DataOptions) -> Path | None:
    return find_folder(candidate_folders(options, [SUBDIR]), _complete)


def locate(arg, options: DataOptions) -> str | None:
    folder = _find(options)
    return str(folder) if folder else None


def _fetch(root: Path) -> Path:
    import torchvision

    # one call fetches the whole archive (train and test), checked against torchvision's md5
    torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    return root / SUBDIR


@register_dataset("cifar10", summary="CIFAR-10, 50000/10000 32x32 RGB, 10 classes", locate=locate)
def load_cifar10(arg: str | None, options: DataOptions) -> ImageDataset:
    folder = _find(options) or download_or_explain(
        "CIFAR-10",
        _fetch,
        options,
        how_to=f"extract cifar-10-python.tar.gz into --data-dir or $LANGEVIN_DATA (giving {SUBDIR}/)",
        missing=f"put {SUBDIR}/ in --data-dir or $LANGEVIN_DATA, or allow the download",
    )
    names = load_batch(folder / META_FILE).get(b"label_names")
    if not names or len(names) != 10:
        raise UserError(f"{folder / META_FILE} has no 10 b'label_names'; delete it and re-download")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    def split(files: list[str]) -> Split:
        images, labels = _read_split(folder, files)
        if labels.numel() and (labels.min() < 0 or labels.max() > 9):
            raise UserError(f"labels outside 0..9 in {folder}; delete it and re-download")
        return Split(resize_uint8(images, options.image_size), labels)

    return ImageDataset(
        "cifar10", split(TRAIN_FILES), split(TEST_FILES), classes, MEAN, STD, hflip=True, source=str(folder)
    )
