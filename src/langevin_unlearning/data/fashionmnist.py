"""Fashion-MNIST from IDX files: --data-dir, $LANGEVIN_DATA, torchvision's layout, Debian's package, download."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from .base import DataOptions, ImageDataset, Split, resize_uint8
from .files import candidate_folders, download_or_explain, find_folder
from .registry import register_dataset

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = (0.2860,), (0.3530,)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz). We parse it ourselves: Debian recompresses the .gz, so
    torchvision's md5 check would reject it even though the content is identical."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, gzip.BadGzipFile) as e:  # truncated or corrupt .gz
        raise UserError(f"{path} is truncated or corrupt ({type(e).__name__}); delete it and re-download") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise UserError(f"{path} is not an IDX file of uint8 data; re-download it or delete it")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise UserError(f"{path} is truncated (its header is incomplete); re-download it")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"{path} is truncated ({body.size} of {int(np.prod(dims))} values); re-download it")
    return body.reshape(dims)


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete(folder: Path) -> bool:
    return all(_find_file(folder, stem) for stem in FILES.values())


def _find(options: DataOptions) -> Path | None:
    return find_folder(
        candidate_folders(options, ["fashion-mnist", Path("FashionMNIST") / "raw"], [DEBIAN_DIR]), _complete
    )


def locate(arg, options: DataOptions) -> str | None:
    folder = _find(options)
    return str(folder) if folder else None


def _fetch(root: Path) -> Path:
    import torchvision

    torchvision.datasets.FashionMNIST(str(root), train=True, download=True)
    torchvision.datasets.FashionMNIST(str(root), train=False, download=True)
    return root / "FashionMNIST" / "raw"


@register_dataset("fashionmnist", summary="Fashion-MNIST, 60000/10000 28x28 grayscale, 10 classes", locate=locate)
def load_fashionmnist(arg: str | None, options: DataOptions) -> ImageDataset:
    folder = _find(options) or download_or_explain(
        "Fashion-MNIST",
        _fetch,
        options,
        how_to="`apt-get install dataset-fashion-mnist`, put the four IDX files in --data-dir or $LANGEVIN_DATA",
        missing="`apt-get install dataset-fashion-mnist` or pass --data-dir",
    )
    arrays = {key: read_idx(_find_file(folder, stem)) for key, stem in FILES.items()}

    def split(kind: str) -> Split:
        images = torch.from_numpy(arrays[f"{kind}_images"].copy()).unsqueeze(1)
        labels = torch.from_numpy(arrays[f"{kind}_labels"].astype(np.int64))
        return Split(resize_uint8(images, options.image_size), labels)

    return ImageDataset(
        "fashionmnist", split("train"), split("test"), CLASSES, MEAN, STD, hflip=True, source=str(folder)
    )
