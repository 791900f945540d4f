"""Supervised training: the loop behind the original model, the retrained reference and fine-tuning baselines.

Data stay uint8 on the device (moved once when they fit); each step gathers a batch by index, scales it to
[0,1] and augments it as a whole batch. No DataLoader, no per-sample PIL transforms.

Nothing inside a step reads the device from the host: the shuffle is made on the device once per pass, the
learning rate is a device tensor the cosine schedule writes (``steps.DeviceSGD``), the NaN/inf check and the
loss sum are device-side (``steps.LossWatch``, read once per epoch together with the test accuracy), and
``seen`` (how often each image was drawn) is counted on the device. So the same step function can run
eagerly or, on CUDA, be replayed as one captured CUDA graph (``capture.StepRunner``, ``--graphs``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .capture import StepRunner
from ..data.augment import augment, crop_padding
from ..data.base import ImageDataset, Images
from ..core.device import autocast, device_generator, resolve_graphs
from ..core.errors import UserError
from .predict import accuracy
from ..core.validation import Validated, named, one_of
from .steps import DeviceAdamW, DeviceSGD, LossWatch, cosine_factor

RESIDENT_BYTES = 2 << 30  # move a split to the device in one piece when it is at most this big


@dataclass
class TrainConfig(Validated):
    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 1e-4  # the paper's setting
    schedule: str = "cosine"  # or "constant"
    augment: bool = True
    precision: str = "fp32"
    compile: bool = False
    graphs: bool | None = None  # CUDA graphs for the step: None = the measured device default (device.py)
    optimizer: str = "sgd"  # or "adamw" (momentum unused), which vision transformers need

    RULES = {
        **named("epochs", "lr", "batch_size", "momentum", "weight_decay"),
        "schedule": one_of(("cosine", "constant"), "schedule"),
        "optimizer": one_of(("sgd", "adamw"), "optimizer"),
    }


@dataclass
class TrainResult:
    seconds: float
    samples_per_second: float
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    test_acc: list[float] = field(default_factory=list)  # per epoch
    seen: Tensor | None = None  # how often each training image was drawn: proof of what was trained on
    mode: str = "eager"  # how steps ran: eager, static or graphs (CUDA graphs)


def on_device(images: Images, device: torch.device) -> Images:
    """Keep a split resident on the device when it is a tensor of reasonable size."""
    if isinstance(images, Tensor) and images.numel() <= RESIDENT_BYTES:
        return images.to(device)
    return images


def make_optimizer(params, cfg: TrainConfig, device: torch.device) -> DeviceSGD | DeviceAdamW:
    """The step's optimizer, its learning rate a device tensor that the schedule writes in place."""
    if cfg.optimizer == "adamw":
        return DeviceAdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, device=device)
    return DeviceSGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, device=device)


def batch_input(images: Images, idx: Tensor, device: torch.device) -> Tensor:
    """uint8 batch at ``idx`` -> float [0,1] on ``device``, channels_last (faster convs on GPU and CPU)."""
    x = images[idx.to(images.device, non_blocking=True) if isinstance(images, Tensor) else idx.cpu()]
    return scale(x.to(device, non_blocking=True))


def scale(x: Tensor) -> Tensor:
    """uint8 (B,C,H,W) on its device -> float [0,1], channels_last."""
    return x.float().div_(255).contiguous(memory_format=torch.channels_last)


def step_mode(cfg: TrainConfig, device: torch.device, resident: bool) -> str:
    """eager, or graphs on CUDA when asked / by default, the images are resident and nothing is compiled."""
    graphs = resolve_graphs(cfg.graphs, device)
    if graphs and (not resident or cfg.compile):
        if cfg.graphs:
            raise UserError("--graphs needs the training images resident on the GPU and no --compile; use --no-graphs")
        return "eager"
    return "graphs" if graphs else "eager"


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
    mode: str | None = None,
) -> TrainResult:
    """SGD on ``data.train[train_index]``; reports test accuracy on ``eval_index`` after each epoch.

    ``mode`` (eager, static, graphs) overrides ``cfg.graphs``; tests use "static" to run the graph data flow on the CPU."""
    if len(train_index) == 0:
        raise UserError("nothing to train on: the training index set is empty")
    model.to(device, memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick its fastest kernels once
    step_model = torch.compile(model) if cfg.compile else model
    images = on_device(data.train.images, device)
    resident = isinstance(images, Tensor) and images.device == device
    mode = mode or step_mode(cfg, device, resident)
    labels = data.train.labels.to(device)
    steps_per_epoch = math.ceil(len(train_index) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    opt = make_optimizer(model.parameters(), cfg, device)
    watch = LossWatch(device)
    pad = crop_padding(data.image_shape[-1])
    seen = torch.zeros(len(data.train), dtype=torch.int64, device=device)
    cosine = cfg.schedule == "cosine"

    def step(idx: Tensor, *batch: Tensor) -> None:
        """One SGD step on the images at ``idx`` (already gathered into ``batch`` when not resident)."""
        if cosine:  # LambdaLR's convention: the k-th update (0-based) uses factor(k)
            opt.lr.copy_(opt.base_lr * cosine_factor(watch.steps, total))
        x = scale(batch[0] if batch else images[idx])
        if cfg.augment:
            x = augment(x, pad=pad, hflip=data.hflip)
        with autocast(device, cfg.precision, cache=mode == "eager"):
            loss = nn.functional.cross_entropy(step_model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen.index_add_(0, idx, torch.ones_like(idx))
        watch.add(loss)

    runner = StepRunner(step, mode=mode)
    shuffle = device_generator(generator, device) if resident else generator
    index = train_index.to(device) if resident else train_index
    result = TrainResult(0.0, 0.0)
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for epoch in range(cfg.epochs):
        model.train()
        order = index[torch.randperm(len(index), generator=shuffle, device=index.device)]
        for idx in order.split(cfg.batch_size):
            if resident:
                runner(idx)
            else:  # lazy or too-large images: gather on the host, copy the batch over
                runner(idx.to(device, non_blocking=True), images[idx].to(device, non_blocking=True))
            bar.update(1)
        done = (epoch + 1) * steps_per_epoch
        epoch_loss = watch.check(done, f"epoch {epoch + 1},")  # the one sync per epoch (with the accuracy)
        result.losses.append(epoch_loss)
        if eval_index is not None and len(eval_index):
            result.test_acc.append(accuracy(model, data.test.images, data.test.labels, eval_index, device))
        bar.set_postfix(loss=f"{epoch_loss:.3f}", **({"test_acc": f"{result.test_acc[-1]:.3f}"} if result.test_acc else {}))
    bar.close()
    opt.release()  # leave no gradients behind on the trained model
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.seconds = time.perf_counter() - start
    result.samples_per_second = cfg.epochs * len(train_index) / max(result.seconds, 1e-9)
    result.seen = seen.cpu()
    result.mode = mode
    return result
