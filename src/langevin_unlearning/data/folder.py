"""Your own images: ``folder:<path>`` with one sub-folder per class, optionally split into train/ and test/.

Layouts: ``<path>/<class>/*.png`` (a seeded, stratified 80/20 split is made) or ``<path>/train/<class>/``
plus ``<path>/test/<class>/``. ``extra["paths"]`` records each image's path relative to ``<path>``
(``{"train": [...], "test": [...]}``, in split order) for metadata forget specs. The first training image decides the channels (grayscale -> 1, else 3)
and, without --image-size, the size; every image is converted and resized to match. Folders that fit
in EAGER_MAX_BYTES are decoded once up front; bigger ones are decoded batch by batch (FolderImages).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core.errors import UserError
from ..core.validation import warn
from .base import DataOptions, ImageDataset, Split, channel_stats, stratified_split
from .registry import register_dataset, search_roots

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
TEST_FRACTION = 0.2
EAGER_MAX_BYTES = 256 * 2**20  # decoded uint8 size up to which all images are held in memory
NATIVE_MAX_SIDE = 1024  # without --image-size, larger images are refused (memory is bounded before it is spent)
NATIVE_BUDGET_BYTES = 16 * 2**30  # ... and so is a folder whose decoded images would exceed this
LAZY_STATS_IMAGES = 2000  # mean/std sample for lazy folders: each image is a file decode
_GRAY_MODES = {"1", "L", "LA", "I", "F"}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")  # .DS_Store, .ipynb_checkpoints, ._resource forks


def _list_images(folder: Path, skipped: list[Path]) -> list[Path]:
    """The readable image files under ``folder``; image-named entries that cannot be read (a link to
    nothing, no read permission) are appended to ``skipped`` so that the loader can say how many."""
    images = []
    for p in folder.rglob("*"):
        if p.suffix.lower() not in IMAGE_EXTS or not all(_visible(Path(part)) for part in p.relative_to(folder).parts):
            continue
        if p.is_file() and os.access(p, os.R_OK):
            images.append(p)
        elif not p.is_dir():  # a dangling symlink is neither a file nor a folder
            skipped.append(p)
    return sorted(images)


def _scan(folder: Path, skipped: list[Path], classes: list[str] | None = None) -> tuple[list[Path], Tensor, list[str]]:
    """Image paths and labels under ``folder/<class>/``; ``classes`` fixes the label order (test/ uses train/'s)."""
    dirs = sorted((d for d in folder.iterdir() if d.is_dir() and _visible(d)), key=lambda d: d.name)
    if not dirs:
        raise UserError(f"{folder} has no class sub-folders; put each class's images in {folder}/<class>/")
    if classes is None:
        classes = [d.name for d in dirs]
    extra = [d.name for d in dirs if d.name not in classes]
    if extra:
        raise UserError(
            f"{folder} has classes {extra} that train/ lacks; give train/ and test/ the same class sub-folders"
        )
    paths, labels = [], []
    for d in dirs:
        files = _list_images(d, skipped)
        if not files:
            raise UserError(f"{d} has no images ({', '.join(sorted(IMAGE_EXTS))}); add some or remove the folder")
        paths += files
        labels += [classes.index(d.name)] * len(files)
    return paths, torch.tensor(labels, dtype=torch.int64), classes


def _at_least_two_classes(folder: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        raise UserError(
            f"{folder} has one class sub-folder ({classes[0]!r}); a classifier needs at least two: "
            f"add a sub-folder of images per class, e.g. {folder}/<other class>/"
        )


def _open(path: Path):
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # truncated, not an image, unsupported codec
        raise UserError(f"cannot decode {path} ({type(e).__name__}); fix or delete the file") from None
    return img


def _convert(img, channels: int):
    from PIL import Image

    if img.mode.startswith("I;16"):  # 16-bit grayscale (common for scans): keep the top 8 bits, not a clip
        img = Image.fromarray((np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8))
    return img.convert("L" if channels == 1 else "RGB")


def decode(path: Path, channels: int, size: int) -> np.ndarray:
    """One image file as uint8 (C, size, size)."""
    from PIL import Image

    with _open(path) as img:
        img = _convert(img, channels)
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)  # PIL widens the filter when shrinking: antialiased
        arr = np.array(img, dtype=np.uint8)  # a writable copy: torch refuses read-only buffers
    return arr[None] if channels == 1 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def _probe(path: Path, image_size: int | None) -> tuple[int, int]:
    """Channels and size from the first image."""
    with _open(path) as img:
        channels = 1 if img.mode in _GRAY_MODES or img.mode.startswith("I;16") else 3
        if image_size is not None:
            return channels, image_size
        w, h = img.size
    if w != h:
        raise UserError(f"{path} is {w}x{h}, not square; pass --image-size N to resize every image to NxN")
    return channels, w


class FolderImages:
    """Images decoded from their files on each access, so a large folder never sits in memory (LazyImages).

    Indexing follows tensor semantics: an int gives (C, S, S); a 1-D index tensor, list or slice gives (B, C, S, S).
    """

    dtype = torch.uint8

    def __init__(self, paths: Sequence[Path], channels: int, size: int):
        self.paths = list(paths)
        self.channels, self.size = channels, size
        self.shape = (len(self.paths), channels, size, size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> Tensor:
        if isinstance(index, Tensor):
            index = index.cpu()
        idx = torch.arange(len(self.paths))[index]  # bounds, negatives, slices and masks as a tensor would
        if idx.ndim == 0:
            return torch.from_numpy(decode(self.paths[int(idx)], self.channels, self.size))
        out = torch.empty((len(idx), self.channels, self.size, self.size), dtype=torch.uint8)
        for j, i in enumerate(idx.tolist()):
            out[j] = torch.from_numpy(decode(self.paths[i], self.channels, self.size))
        return out

    def __repr__(self) -> str:
        return f"FolderImages({len(self)} files, shape={self.shape})"


def decode_all(paths: Sequence[Path], channels: int, size: int) -> Tensor:
    """All images as one uint8 (N, C, S, S) tensor; threads overlap file reads and PIL's decoding."""
    out = torch.empty((len(paths), channels, size, size), dtype=torch.uint8)

    def load(i: int) -> None:
        out[i] = torch.from_numpy(decode(paths[i], channels, size))

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(load, range(len(paths))))  # list() re-raises the first failure
    return out


def _resolve(arg: str, options: DataOptions) -> Path:
    """``arg`` as given, else relative to --data-dir, $LANGEVIN_DATA or ./data."""
    path = Path(arg).expanduser()
    if path.is_absolute() or path.is_dir():
        return path
    for root in search_roots(options):
        if (root / path).is_dir():
            return root / path
    return path


def locate(arg, options: DataOptions) -> str | None:
    if not arg:
        return None
    path = _resolve(arg, options)
    return str(path) if path.is_dir() else None


@register_dataset(
    "folder",
    summary="your images, one sub-folder per class (optional train/ and test/)",
    locate=locate,
    argument="<path>",
)
def load_folder(arg: str | None, options: DataOptions) -> ImageDataset:
    root = _resolve(arg or "", options)
    if not arg or not root.is_dir():
        raise UserError(f"{root} is not a folder; use folder:<path> with one sub-folder of images per class")
    skipped: list[Path] = []
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_paths, train_labels, classes = _scan(root / "train", skipped)
        _at_least_two_classes(root / "train", classes)
        test_paths, test_labels, _ = _scan(root / "test", skipped, classes)
    else:
        paths, labels, classes = _scan(root, skipped)
        _at_least_two_classes(root, classes)
        train_idx, test_idx = stratified_split(labels, TEST_FRACTION, options.seed)
        if len(test_idx) == 0:
            raise UserError(
                f"{root} has too few images to hold out a test split; add images or make train/ and test/ folders"
            )
        train_paths, test_paths = [paths[i] for i in train_idx.tolist()], [paths[i] for i in test_idx.tolist()]
        train_labels, test_labels = labels[train_idx], labels[test_idx]

    if skipped:
        warn(
            f"skipped {len(skipped)} image file{'s' if len(skipped) > 1 else ''} under {root} that cannot be read "
            f"(a link to a missing file, or no read permission), e.g. {skipped[0].relative_to(root).as_posix()}; "
            "fix or remove them to use them"
        )
    channels, size = _probe(train_paths[0], options.image_size)
    total = (len(train_paths) + len(test_paths)) * channels * size * size
    if options.image_size is None and (size > NATIVE_MAX_SIDE or total > NATIVE_BUDGET_BYTES):
        raise UserError(
            f"{root}'s images are {size}x{size}: at native size the set needs {total / 2**30:.1f} GiB decoded and a CNN "
            f"sees {size * size:,} pixels per image (limits {NATIVE_MAX_SIDE}px, {NATIVE_BUDGET_BYTES >> 30} GiB); pass --image-size N, e.g. --image-size 64"
        )
    lazy = total > EAGER_MAX_BYTES
    make = FolderImages if lazy else decode_all
    train = Split(make(train_paths, channels, size), train_labels)
    test = Split(make(test_paths, channels, size), test_labels)
    mean, std = channel_stats(train.images, LAZY_STATS_IMAGES if lazy else 10000)
    # hflip stays off: whether a mirror image keeps the label (text, laterality) is not known for user data
    # each image's path relative to the root (posix), so metadata CSVs can name images (where: forget specs)
    paths = {
        name: [p.relative_to(root).as_posix() for p in ps]
        for name, ps in (("train", train_paths), ("test", test_paths))
    }
    return ImageDataset(
        f"folder:{arg}",
        train,
        test,
        classes,
        mean,
        std,
        hflip=False,
        source=str(root),
        extra={"lazy": lazy, "paths": paths},
    )
