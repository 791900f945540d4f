"""Supervised training: the loop behind the original model, the retrained reference and fine-tuning baselines.

Data stay uint8 on the device (moved once when they fit); each step indexes a batch, scales it to [0,1]
and augments it as a whole batch. No DataLoader, no per-sample PIL transforms.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data.augment import augment, crop_padding
from .data.base import ImageDataset, Images
from .device import autocast
from .errors import UserError
from .evaluation.predict import accuracy
from .validation import check_fields

RESIDENT_BYTES = 2 << 30  # move a split to the device in one piece when it is at most this big


@dataclass
class TrainConfig:
    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 1e-4  # the paper's setting
    schedule: str = "cosine"  # or "constant"
    augment: bool = True
    precision: str = "fp32"
    compile: bool = False

    def validate(self) -> None:
        check_fields(self)  # validation.RULES: epochs, lr, momentum, weight_decay, batch_size; finite floats
        if self.schedule not in ("cosine", "constant"):
            raise UserError(f"unknown schedule {self.schedule!r}; use cosine or constant")


@dataclass
class TrainResult:
    seconds: float
    samples_per_second: float
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    test_acc: list[float] = field(default_factory=list)  # per epoch
    seen: Tensor | None = None  # how often each training image was drawn: proof of what was trained on


def on_device(images: Images, device: torch.device) -> Images:
    """Keep a split resident on the device when it is a tensor of reasonable size."""
    if isinstance(images, Tensor) and images.numel() <= RESIDENT_BYTES:
        return images.to(device)
    return images


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def batch_input(images: Images, idx: Tensor, device: torch.device) -> Tensor:
    """uint8 batch at ``idx`` -> float [0,1] on ``device``, channels_last (faster convs on GPU and CPU)."""
    x = images[idx.to(images.device) if isinstance(images, Tensor) else idx]
    return x.to(device, non_blocking=True).float().div_(255).contiguous(memory_format=torch.channels_last)


def check_finite(loss: Tensor, where: str) -> None:
    if not torch.isfinite(loss):
        raise UserError(f"loss became {loss.item()} {where}; lower the learning rate (--lr)")


def train_model(
    model: nn.Module,
    data: ImageDataset,
    train_index: Tensor,
    cfg: TrainConfig,
    *,
    device: torch.device,
    generator: torch.Generator,
    eval_index: Tensor | None = None,
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """SGD on ``data.train[train_index]``; reports test accuracy on ``eval_index`` after each epoch."""
    cfg.validate()
    if len(train_index) == 0:
        raise UserError("nothing to train on: the training index set is empty")
    model.to(device, memory_format=torch.channels_last)
    step_model = torch.compile(model) if cfg.compile else model
    images = on_device(data.train.images, device)
    labels = data.train.labels.to(device)
    steps_per_epoch = math.ceil(len(train_index) / cfg.batch_size)
    opt = make_optimizer(model.parameters(), cfg)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, (lambda s: 0.5 * (1 + math.cos(math.pi * s / total))) if cfg.schedule == "cosine" else (lambda s: 1.0))
    pad = crop_padding(data.image_shape[-1])
    seen = torch.zeros(len(data.train), dtype=torch.int64)
    result = TrainResult(0.0, 0.0, seen=seen)
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for epoch in range(cfg.epochs):
        model.train()
        order = train_index[torch.randperm(len(train_index), generator=generator)]
        running = torch.zeros((), device=device)
        for idx in order.split(cfg.batch_size):
            seen.index_add_(0, idx, torch.ones_like(idx))
            x = batch_input(images, idx, device)
            if cfg.augment:
                x = augment(x, pad=pad, hflip=data.hflip)
            with autocast(device, cfg.precision):
                loss = nn.functional.cross_entropy(step_model(x), labels[idx.to(labels.device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.detach()
            bar.update(1)
        epoch_loss = (running / steps_per_epoch).item()  # one sync per epoch, not per step
        check_finite(torch.tensor(epoch_loss), f"in epoch {epoch + 1}")
        result.losses.append(epoch_loss)
        if eval_index is not None and len(eval_index):
            result.test_acc.append(accuracy(model, data.test.images, data.test.labels, eval_index, device))
        bar.set_postfix(loss=f"{epoch_loss:.3f}", **({"test_acc": f"{result.test_acc[-1]:.3f}"} if result.test_acc else {}))
    bar.close()
    opt.zero_grad(set_to_none=True)  # leave no gradients behind on the trained model
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.seconds = time.perf_counter() - start
    result.samples_per_second = cfg.epochs * len(train_index) / max(result.seconds, 1e-9)
    return result
