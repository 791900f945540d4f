"""Supervised training: the loop behind the original model, the retrained reference and fine-tuning baselines.

Data stay uint8 on the device (moved once when they fit); each step gathers a batch by index, scales it to
[0,1] and augments it as a whole batch. No DataLoader, no per-sample PIL transforms.

Nothing inside a step reads the device from the host: the shuffle is made on the device once per pass, the
learning rate is a device tensor the cosine schedule writes (``optim.DeviceSGD``), the NaN/inf check and the
loss sum are device-side (``steps.LossWatch``, read once per epoch together with the test accuracy), and
``seen`` (how often each image was drawn) is counted on the device. So the same step function can run
eagerly or, on CUDA, be replayed as one captured CUDA graph (``capture.StepRunner``, ``--graphs``). The
loop itself is ``loop.run_steps``, the one every method uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..core.device import autocast, resolve_graphs
from ..core.errors import UserError
from ..core.validation import Validated, named, one_of
from ..data.augment import augment, crop_padding
from ..data.base import ImageDataset
from .batches import BatchStream, scale
from .loop import run_steps
from .optim import make_optimizer
from .predict import accuracy
from .steps import cosine_factor


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
    stream = BatchStream(data, train_index, cfg.batch_size, device=device, generator=generator)
    mode = mode or step_mode(cfg, device, stream.resident)
    steps_per_epoch = stream.steps_per_pass()
    total = cfg.epochs * steps_per_epoch
    opt = make_optimizer(
        model.parameters(),
        cfg.optimizer,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        device=device,
    )
    pad = crop_padding(data.image_shape[-1])
    seen = torch.zeros(len(data.train), dtype=torch.int64, device=device)
    t = torch.zeros((), dtype=torch.int64, device=device)  # updates so far, on the device: the schedule reads it
    cosine = cfg.schedule == "cosine"

    def batches(_: int) -> tuple[Tensor, ...]:
        idx = stream.next_index()
        if stream.resident:
            return (idx,)
        # lazy or too-large images: gather on the host, copy the batch over
        return idx.to(device, non_blocking=True), stream.images[idx].to(device, non_blocking=True)

    def loss_at(idx: Tensor, *batch: Tensor) -> Tensor:
        """CE on the images at ``idx`` (already gathered into ``batch`` when not resident)."""
        if cosine:  # LambdaLR's convention: the k-th update (0-based) uses factor(k)
            opt.lr.copy_(opt.base_lr * cosine_factor(t, total))
        t.add_(1)
        x = scale(batch[0] if batch else stream.images[idx])
        if cfg.augment:
            x = augment(x, pad=pad, hflip=data.hflip)
        with autocast(device, cfg.precision, cache=mode == "eager"):
            loss = nn.functional.cross_entropy(step_model(x), stream.labels[idx])
        seen.index_add_(0, idx, torch.ones_like(idx))
        return loss

    result = TrainResult(0.0, 0.0)

    def end_of_epoch(_: int, epoch_loss: float) -> dict:
        """The one sync per epoch: the loss check (in the loop), then the test accuracy."""
        result.losses.append(epoch_loss)
        if eval_index is not None and len(eval_index):
            result.test_acc.append(accuracy(model, data.test.images, data.test.labels, eval_index, device))
        return {"loss": f"{epoch_loss:.3f}", **({"test_acc": f"{result.test_acc[-1]:.3f}"} if result.test_acc else {})}

    model.train()  # accuracy() restores it after each epoch's evaluation
    start = time.perf_counter()
    run_steps(
        model,
        loss_at,
        total,
        opt,
        progress=progress,
        desc=desc,
        batches=batches,
        mode=mode,
        check_every=steps_per_epoch,
        where=lambda done: f"epoch {done // steps_per_epoch},",
        on_check=end_of_epoch,
    )
    opt.release()  # leave no gradients behind on the trained model
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.seconds = time.perf_counter() - start
    result.samples_per_second = cfg.epochs * len(train_index) / max(result.seconds, 1e-9)
    result.seen = seen.cpu()
    result.mode = mode
    return result
