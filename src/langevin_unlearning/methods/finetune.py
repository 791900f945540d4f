"""Training on the remain set: retraining from scratch, fine-tuning, l1-sparse, CF-k and EU-k.

    retrain    re-initialise the whole model and train it on the remain set only (the gold standard)
    finetune   keep training the original on the remain set (Golatkar et al. 2020; Jia et al. 2023)
    l1-sparse  fine-tuning plus alpha_t * ||w||_1, alpha_t decaying linearly to 0 (Jia et al. 2023)
    cf-k       fine-tune only the last k blocks, the rest frozen (Goel et al. 2022, catastrophic forgetting-k)
    eu-k       re-initialise the last k blocks and train only them (Goel et al. 2022, exact unlearning-k)

Budgets are passes over the remain set, so they scale from digits (1.3k remain images) to CIFAR-10
(45k), with ``min_steps`` as a floor where the set is tiny. "Blocks" are ``model.blocks()``: the
parameterised blocks from input to head, the head last. Frozen blocks get no gradient *and* stay in eval
mode, so their BatchNorm running statistics do not move either: they end bit-identical to the original.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..core.errors import UserError
from ..core.validation import Validated, at_least, named, non_negative
from ..data import ImageDataset
from ..data.augment import augment, crop_padding
from ..engine.batches import BatchStream
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from ..engine.train import TrainConfig, TrainResult, train_model
from .base import UnlearningMethod, register_method
from .common import SCHEDULE

# ---------------------------------------------------------------- helpers shared by the methods below


@contextlib.contextmanager
def seeded_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (used by ``reset_parameters`` and ``train_model``'s augmentation) for the
    duration of the block, then restore the caller's RNG state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def reinitialise(modules: Sequence[nn.Module]) -> None:
    """``reset_parameters()`` on every submodule of ``modules`` that has it (convolutions, linear layers,
    BatchNorm: weights *and* running statistics). Uses the global RNG: seed it with ``seeded_rng``.
    Refuses modules whose own parameters no ``reset_parameters`` would reach, rather than leaving them trained."""
    for block in modules:
        for name, m in block.named_modules():
            has_params = any(True for _ in m.parameters(recurse=False))
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            elif has_params:
                raise UserError(
                    f"cannot re-initialise {type(m).__name__} {name!r}: it has parameters but no reset_parameters()"
                )


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def last_blocks(model: nn.Module, k: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """(frozen, trainable): all of ``model.blocks()`` but the last k, and the last k."""
    if not hasattr(model, "blocks"):
        raise UserError(f"{type(model).__name__} has no blocks(); cf-k and eu-k need a model from this toolkit")
    blocks = list(model.blocks())
    if not 1 <= k <= len(blocks):
        raise UserError(f"k must be between 1 and {len(blocks)} (the model's parameterised blocks), got {k}")
    return blocks[: len(blocks) - k], blocks[len(blocks) - k :]


def reset_blocks(model: nn.Module, k: int, seed: int) -> list[nn.Module]:
    """Re-initialise the last ``k`` blocks of ``model`` in place (seeded) and return them. EU-k's first step."""
    _, trainable = last_blocks(model, k)
    with seeded_rng(seed, model_device(model)):
        reinitialise(trainable)
    return trainable


def train_on_remain(
    model: nn.Module,
    data: ImageDataset,
    index: Tensor,
    s,
    *,
    device: torch.device,
    seed: int,
    progress: bool,
    desc: str,
    trainable: Sequence[nn.Module] | None = None,
    penalty: Callable[[list[nn.Parameter], int, int], Tensor] | None = None,
) -> nn.Module:
    """SGD on CE over ``data.train[index]`` (augmented like training when ``s.augment``), for
    ``max(s.epochs passes, s.min_steps)`` updates, plus ``penalty(params, step, total)`` if given.

    With ``trainable`` (blocks of ``model``) only those blocks learn; every other block gets no gradient
    and stays in eval mode, so its parameters and BatchNorm buffers are left exactly as they were."""
    if len(index) == 0:
        raise UserError("the remain set is empty: there is nothing to fine-tune on")
    shuffle = torch.Generator().manual_seed(seed)
    aug = torch.Generator(device=device).manual_seed(seed)
    stream = BatchStream(data, index, s.batch_size, device=device, generator=shuffle)
    total = max(s.epochs * stream.steps_per_pass(), s.min_steps)
    train_ids = {id(p) for b in trainable for p in b.parameters()} if trainable is not None else None
    params = [p for p in model.parameters() if train_ids is None or id(p) in train_ids]
    frozen = [p for p in model.parameters() if train_ids is not None and id(p) not in train_ids]
    opt = make_optimizer(params, "torch-sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    factor = (lambda t: 0.5 * (1 + math.cos(math.pi * t / total))) if s.schedule == "cosine" else (lambda t: 1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    pad = crop_padding(data.image_shape[-1])
    model.train()
    if trainable is not None:
        keep = {id(b) for b in trainable}
        for block in model.blocks():
            if id(block) not in keep:
                block.eval()  # BatchNorm keeps its running statistics
    for p in frozen:
        p.requires_grad_(False)

    def loss_at(t: int) -> Tensor:
        x, y = next(stream)
        if s.augment:
            x = augment(x, pad=pad, hflip=data.hflip, generator=aug)
        loss = nn.functional.cross_entropy(model(x), y)
        if penalty is not None:
            loss = loss + penalty(params, t, total)
        return loss

    try:
        run_steps(model, loss_at, total, opt, progress=progress, desc=desc, after_step=sched.step)
        return model.eval()
    finally:
        for p in frozen:
            p.requires_grad_(True)


# ---------------------------------------------------------------- retrain


@dataclass
class RetrainSettings(Validated):
    # Set these to the original model's training recipe: retraining is only the gold standard when it
    # differs from the original in nothing but the data. Defaults = this toolkit's small-model recipe.
    epochs: int = 10  # passes over the remain set
    lr: float = 0.05  # SGD learning rate (cosine schedule); 10 epochs at 0.05 give ~98% on digits
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # or "constant"
    augment: bool = True  # random crop (+ flips where the dataset allows), as in training

    RULES = {**named("epochs", "lr", "batch_size", "momentum", "weight_decay"), "schedule": SCHEDULE}


@register_method
class Retrain(UnlearningMethod):
    """Retraining from scratch on the remain set: the gold standard every approximate method is measured
    against. The model is re-initialised (seeded by ``seed``) and trained with ``train_model`` on
    ``split.train_remain`` only; ``last_result.seen`` counts how often each training image was drawn,
    which proves that no forget image was."""

    name = "retrain"
    paper = "Retraining from scratch on the remain set: the gold standard (e.g. Golatkar et al., CVPR 2020; Jia et al., NeurIPS 2023)"
    Settings = RetrainSettings
    last_result: TrainResult | None = None

    def run(self, model, original, data, split, *, device, seed, progress):
        s = self.settings
        cfg = TrainConfig(
            epochs=s.epochs,
            lr=s.lr,
            batch_size=s.batch_size,
            momentum=s.momentum,
            weight_decay=s.weight_decay,
            schedule=s.schedule,
            augment=s.augment,
        )
        with seeded_rng(seed, device):
            reinitialise([model])
            self.last_result = train_model(
                model,
                data,
                split.train_remain,
                cfg,
                device=device,
                generator=torch.Generator().manual_seed(seed),
                progress=progress,
                desc="retrain",
            )
        return model.eval()


# ---------------------------------------------------------------- fine-tuning family


@dataclass
class FinetuneSettings(Validated):
    # Jia et al. (NeurIPS 2023), FT baseline: 10 epochs on the remain set, SGD lr 0.01, momentum 0.9,
    # weight decay 5e-4, constant lr (their step schedule does not decay within 10 epochs).
    epochs: int = 10  # passes over the remain set
    min_steps: int = 100  # at least this many updates (tiny remain sets)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    schedule: str = "constant"  # or "cosine"
    augment: bool = True  # random crop (+ flips where the dataset allows), as in training

    RULES = {**named("epochs", "min_steps", "lr", "momentum", "weight_decay", "batch_size"), "schedule": SCHEDULE}


@register_method
class Finetune(UnlearningMethod):
    """Fine-tuning on the remain set (no re-initialisation): relies on catastrophic forgetting of the
    forget set. Golatkar et al. 2020 ("Eternal Sunshine of the Spotless Net") and Warnecke et al. use it
    as a baseline; defaults follow Jia et al. 2023's FT."""

    name = "finetune"
    paper = "Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020 (fine-tune baseline); defaults from Jia et al., NeurIPS 2023"
    Settings = FinetuneSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        return train_on_remain(
            model, data, split.train_remain, self.settings, device=device, seed=seed, progress=progress, desc="finetune"
        )


@dataclass
class L1SparseSettings(FinetuneSettings):
    # Jia et al. (NeurIPS 2023), l1-sparse MU: FT's recipe plus alpha_t * sum_w |w| over all parameters,
    # alpha_t decaying linearly from alpha to 0 over training (per step here; per epoch in their code).
    alpha: float = 5e-4  # initial l1 weight (their search range is around 1e-4 .. 5e-4)

    RULES = {**FinetuneSettings.RULES, "alpha": non_negative()}


def l1_penalty(alpha: float) -> Callable[[list[nn.Parameter], int, int], Tensor]:
    def penalty(params: list[nn.Parameter], t: int, total: int) -> Tensor:
        weight = alpha * (1 - t / total)
        return weight * torch.linalg.vector_norm(
            torch.cat([p.reshape(-1) for p in params]), 1
        )  # a few ops, not two per tensor

    return penalty


@register_method
class L1Sparse(UnlearningMethod):
    """Sparsity-aware unlearning: fine-tune on the remain set with an l1 penalty on all weights whose
    weight decays linearly to 0, so the model is pulled toward a sparse solution early and recovers
    accuracy late."""

    name = "l1-sparse"
    paper = "Jia et al., Model Sparsity Can Simplify Machine Unlearning, NeurIPS 2023"
    Settings = L1SparseSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s = self.settings
        return train_on_remain(
            model,
            data,
            split.train_remain,
            s,
            device=device,
            seed=seed,
            progress=progress,
            desc="l1-sparse",
            penalty=l1_penalty(s.alpha),
        )


@dataclass
class CFkSettings(FinetuneSettings):
    # Goel et al. (2022) fine-tune the last k layers on the remain set; the budget here is the FT
    # baseline's (Jia et al. 2023), so CF-k is exactly ``finetune`` restricted to the last k blocks.
    k: int = 2  # last blocks of model.blocks() to train: AllCNN's last conv stage + head

    RULES = {**FinetuneSettings.RULES, "k": at_least(1)}


@register_method
class CFk(UnlearningMethod):
    """Catastrophic forgetting-k: fine-tune only the last k blocks on the remain set; earlier blocks are
    frozen (no gradient, eval-mode BatchNorm) and stay bit-identical."""

    name = "cf-k"
    paper = "Goel et al., Towards Adversarial Evaluation of Machine Unlearning (CF-k), 2022"
    Settings = CFkSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        _, trainable = last_blocks(model, self.settings.k)
        return train_on_remain(
            model,
            data,
            split.train_remain,
            self.settings,
            device=device,
            seed=seed,
            progress=progress,
            desc="cf-k",
            trainable=trainable,
        )


@dataclass
class EUkSettings(Validated):
    # Goel et al. (2022) retrain the last k layers from scratch with the original's training budget;
    # the defaults are therefore ``retrain``'s (this toolkit's training recipe), on the remain set.
    k: int = 2  # last blocks of model.blocks() to re-initialise and train: AllCNN's last conv stage + head
    epochs: int = 10  # passes over the remain set
    min_steps: int = 100  # at least this many updates (tiny remain sets)
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64
    schedule: str = "cosine"  # or "constant"
    augment: bool = True

    RULES = {
        "k": at_least(1),
        **named("epochs", "min_steps", "lr", "momentum", "weight_decay", "batch_size"),
        "schedule": SCHEDULE,
    }


@register_method
class EUk(UnlearningMethod):
    """Exact unlearning-k: re-initialise the last k blocks (weights and BatchNorm statistics, seeded by
    ``seed``; see ``reset_blocks``) and train only them on the remain set, the earlier blocks frozen.
    Without the reset this would be CF-k; ``reset_blocks`` is public so the reset can be checked. Unlike
    the authors' code, which re-initialises convolutions and linear layers only, BatchNorm layers in the
    last k blocks are reset too (affine weights and running statistics)."""

    name = "eu-k"
    paper = "Goel et al., Towards Adversarial Evaluation of Machine Unlearning (EU-k), 2022"
    Settings = EUkSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        trainable = reset_blocks(model, self.settings.k, seed)
        return train_on_remain(
            model,
            data,
            split.train_remain,
            self.settings,
            device=device,
            seed=seed,
            progress=progress,
            desc="eu-k",
            trainable=trainable,
        )
