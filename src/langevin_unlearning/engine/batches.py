"""Batches on the device: keep a split resident, gather a batch by index, scale it to [0,1].

Images stay uint8 until a batch is drawn (a quarter of the memory of floats), and a batch is a gather plus
one scale, so it can sit inside a captured CUDA graph step (see capture.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core.device import device_generator
from ..data.base import ImageDataset, Images

RESIDENT_BYTES = 2 << 30  # move a split to the device in one piece when it is at most this big


def on_device(images: Images, device: torch.device) -> Images:
    """Keep a split resident on the device when it is a tensor of reasonable size."""
    if isinstance(images, Tensor) and images.numel() <= RESIDENT_BYTES:
        return images.to(device)
    return images


def batch_input(images: Images, idx: Tensor, device: torch.device) -> Tensor:
    """uint8 batch at ``idx`` -> float [0,1] on ``device``, channels_last (faster convs on GPU and CPU)."""
    x = images[idx.to(images.device, non_blocking=True) if isinstance(images, Tensor) else idx.cpu()]
    return scale(x.to(device, non_blocking=True))


def scale(x: Tensor) -> Tensor:
    """uint8 (B,C,H,W) on its device -> float [0,1], channels_last."""
    return x.float().div_(255).contiguous(memory_format=torch.channels_last)


class BatchStream:
    """Endless (x, y) batches from ``index``: reshuffled each pass, seeded, already on the device in [0,1].

    The shuffle is made on the device once per pass (from a device generator seeded by ``generator``; on
    the CPU ``generator`` itself), so drawing a batch is a slice: no host-device copy, no sync. A pass
    ends with a partial batch when ``batch_size`` does not divide the index: nothing is dropped."""

    def __init__(
        self,
        data: ImageDataset,
        index: Tensor,
        batch_size: int,
        *,
        device: torch.device,
        generator: torch.Generator,
        images=None,
    ):
        if len(index) == 0:
            raise ValueError("BatchStream needs a non-empty index")
        self.images = images if images is not None else on_device(data.train.images, device)
        self.labels = data.train.labels.to(device)
        self.resident = isinstance(self.images, Tensor) and self.images.device == device
        self.index = index.to(device) if self.resident else index  # lazy images are gathered by host indices
        self.batch_size, self.device = batch_size, device
        self.generator = device_generator(generator, device) if self.resident else generator
        self.order = self.index[:0]

    def upcoming(self) -> Tensor:
        """Positions (into ``index``) the rest of this pass will draw, in order; starts the next pass's shuffle
        if this one is used up, exactly as the next ``next_position`` would, so peeking changes no draw."""
        if len(self.order) == 0:
            self.order = torch.randperm(len(self.index), generator=self.generator, device=self.index.device)
        return self.order

    def next_position(self) -> Tensor:
        """Positions (into ``index``) of the next batch."""
        pos = self.upcoming()[: self.batch_size]
        self.order = self.order[self.batch_size :]
        return pos

    def next_index(self) -> Tensor:
        """Dataset indices of the next batch."""
        return self.index[self.next_position()]

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """(x, y) at ``idx`` (from ``next_index``): device work only, so it can sit inside a captured step."""
        return batch_input(self.images, idx, self.device), self.labels[idx.to(self.device, non_blocking=True)]

    def __next__(self) -> tuple[Tensor, Tensor]:
        return self.batch(self.next_index())

    def __iter__(self):
        return self

    def steps_per_pass(self) -> int:
        return -(-len(self.index) // self.batch_size)
