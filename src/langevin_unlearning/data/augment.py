"""Batch-wise augmentation on device tensors: random crop with zero padding and horizontal flips.

Done on the whole batch at once (no per-sample PIL transforms), so it costs a few tensor ops per step, all
on the device and without host syncs: safe inside a captured CUDA graph (random numbers from CUDA's
default generator, or a ``generator`` registered with the graph).
"""

from __future__ import annotations

import torch
from torch import Tensor


def crop_padding(size: int) -> int:
    """The customary padding: 4 px for 32x32 CIFAR, 3 for 28x28, 1 for 8x8 digits."""
    return max(1, size // 8)


def augment(x: Tensor, *, pad: int, hflip: bool, generator: torch.Generator | None = None) -> Tensor:
    """Random-crop (pad, then shift by up to ``pad`` px) and optionally flip a float (B,C,H,W) batch."""
    b, c, h, w = x.shape
    layout = (
        torch.channels_last if c > 1 and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    )
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad)).reshape(b, c, -1)
        # per-sample offsets, applied with one gather of flat pixel indices (one kernel on any device)
        dy = torch.randint(0, 2 * pad + 1, (b,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (b,), device=x.device, generator=generator)
        rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]  # (B,H)
        cols = torch.arange(w, device=x.device)[None, :] + dx[:, None]  # (B,W)
        flat = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
        x = padded.gather(2, flat).view(b, c, h, w)
    if hflip:
        flip = torch.rand(b, device=x.device, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x.contiguous(memory_format=layout)  # keep the caller's layout (channels_last for the convs)
