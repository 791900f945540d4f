"""The dataset contract every loader fulfils.

A dataset is two splits of uint8 images (N, C, H, W) with int64 labels, plus the class names and the
per-channel mean/std (in [0,1] pixel units) that models use to normalize their input. Models work in
[0,1] pixel space, so images stay uint8 until a batch is moved to the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from ..core.errors import UserError


class LazyImages(Protocol):
    """Images decoded on demand (large folders): ``images[idx]`` returns a uint8 (B, C, H, W) batch."""

    shape: tuple[int, int, int, int]

    def __len__(self) -> int: ...

    def __getitem__(self, index: Tensor) -> Tensor: ...


Images = Tensor | LazyImages


@dataclass
class Split:
    images: Images  # uint8 (N, C, H, W)
    labels: Tensor  # int64 (N,)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 images and labels at ``index`` (a 1-D int64 tensor)."""
        return self.images[index], self.labels[index]


@dataclass
class ImageDataset:
    name: str
    train: Split
    test: Split
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool = False  # horizontal flips are label-preserving (not for digits or text)
    source: str = ""  # where the files were found, for `langevin-unlearn datasets`
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_tensors(
        cls,
        name: str,
        train_images: Tensor,
        train_labels: Tensor,
        test_images: Tensor,
        test_labels: Tensor,
        *,
        classes: Sequence[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        hflip: bool = False,
    ) -> ImageDataset:
        """A dataset from in-memory uint8 (N, C, H, W) images and int64 labels; mean/std from the training images when not given."""
        for what, images in (("train_images", train_images), ("test_images", test_images)):
            if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
                raise UserError(
                    f"{what} must be a uint8 tensor (N, C, H, W) of pixels 0..255; convert with (x * 255).round().to(torch.uint8)"
                )
        train = Split(train_images, torch.as_tensor(train_labels, dtype=torch.int64))
        test = Split(test_images, torch.as_tensor(test_labels, dtype=torch.int64))
        n = int(max(train.labels.max(), test.labels.max() if len(test) else 0)) + 1 if len(train) else 0
        stats = channel_stats(train.images) if mean is None or std is None else (tuple(mean), tuple(std))
        return cls(name, train, test, class_names(n, classes), *stats, hflip=hflip, source="in memory")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    @property
    def in_channels(self) -> int:
        return self.image_shape[0]


@dataclass
class DataOptions:
    """What a loader may be told: where to look, what size to resize to, the split seed."""

    data_dir: Path | None = None
    image_size: int | None = None
    seed: int = 0
    download: bool = True

    def __post_init__(self) -> None:
        # a mistyped --data-dir must not become a new folder that a download then fills
        if self.data_dir is not None and not Path(self.data_dir).is_dir():
            what = "is a file, not a folder" if Path(self.data_dir).exists() else "does not exist"
            raise UserError(f"--data-dir {self.data_dir} {what}; create it or point at the folder that holds the data")


def channel_stats(images: Images, max_images: int = 10000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0,1] units, from up to ``max_images`` evenly spaced images."""
    n = len(images)
    idx = torch.linspace(0, n - 1, steps=min(n, max_images)).long()
    x = images[idx].float().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


def stratified_split(labels: Tensor, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Seeded per-class split of ``range(len(labels))`` into (train, test) index tensors."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in labels.unique(sorted=True).tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def to_nchw_uint8(array, channels_last: bool) -> Tensor:
    """numpy (N,H,W) or (N,H,W,C) / (N,C,H,W) uint8 -> contiguous torch uint8 (N,C,H,W)."""
    t = torch.as_tensor(array)
    if t.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {t.dtype}")
    if t.ndim == 3:
        t = t.unsqueeze(1)
    elif channels_last:
        t = t.permute(0, 3, 1, 2)
    return t.contiguous()


def resize_uint8(images: Tensor, size: int | None) -> Tensor:
    """Bilinear resize of a uint8 (N,C,H,W) tensor to size x size (no-op when size is None or equal)."""
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    out = []
    for chunk in images.split(4096):
        x = torch.nn.functional.interpolate(
            chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def class_names(n: int, names: Sequence[str] | None = None) -> list[str]:
    return list(names) if names is not None else [str(i) for i in range(n)]
