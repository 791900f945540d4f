"""Langevin boundary unlearning, and Boundary Shrink (its gamma = lamda = 0 case).

For each forget batch (x0, y):
  1. boundary search with the frozen original f0 (see boundary_search.py) gives x_K;
  2. new labels y' = argmax f0(x_K), or with ``soft_labels`` f0's softmax at x_K (optionally top-k);
  3. one SGD step on  CE(f(x0), y') + phi * CE(f(x_r), y_r)  for a remain batch (x_r, y_r)
     (with ``soft_labels`` the remain term distills f0's outputs instead).

Steps 1 and 2 involve only the frozen f0, so they run ahead of the updates, a pass at a time in large
batches (search_ahead.py); an update gathers its batch's targets and does step 3.

Defaults are chosen to forget on data from digits (1437 training images) to CIFAR-10. The published
setting (lr 1e-5, 10 passes, phi 0, plain argmax labels) makes about 30 updates on one digits class, too
few to move anything, and there one FGSM step of eps 0.1 crosses the boundary for only ~45% of the images,
so plain argmax keeps the true label for the rest. The defaults therefore use lr 3e-3, at least
``min_steps`` = 100 updates, the nearest *wrong* class as the new label (``wrong_class_only``), and a remain
term (phi 0.5) that holds remain accuracy; Boundary Shrink keeps those. For ``langevin`` the search's gamma
1e-2, lamda 0.1 and steps 5, and phi 1, lr 1e-3 with frozen BatchNorm statistics, were chosen by an ablation on
Fashion-MNIST classes 0 and 2 and checked on classes 4 and 8 (docs/methods.md, "Defaults from evidence").
``PRESETS["paper"]`` is the published loop, all of it (see its comment); what the original research code got
wrong stays fixed there too (docs/methods.md).

Each update (gather the targets, SGD step) is device work only, so on CUDA it can be replayed as one
captured CUDA graph (``graphs``, see capture.py).

The search runs in the published units (boundary_search.py): with them gamma 1e-4 flips a real share of
the step's signs. Each run records ``noise_flip_share`` and ``crossed_share`` in ``method.diagnostics``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from ..core.device import resolve_graphs
from ..core.errors import UserError
from ..core.validation import RULES as SHARED
from ..core.validation import (
    Validated,
    at_least,
    finite,
    named,
    non_negative,
    one_of,
    optional,
    positive,
    requires,
    warns_if,
)
from ..data import ForgetSplit, ImageDataset
from ..engine.batches import BatchStream
from ..engine.loop import run_steps
from ..engine.optim import NoisyProjected, make_optimizer
from .base import UnlearningMethod, register_method
from .boundary_search import SearchDiagnostics
from .common import BN
from .kept_class import KEPT_CLASS_TARGETS, HeldOutConfidence, kept_class_mask
from .noise import NOISE
from .search_ahead import SearchAhead
from .suppress import linear_head, refit_forgotten_rows, suppression_levels, suppression_loss

LAMDA_SCHEDULES = ("none", "inverse", "exponential", "linear")
WEIGHT_NOISE_OFFSET = 1_000_003  # the weight noise's seed is the run's seed plus this
SUPPRESS_HEAD_UPDATES = 3000  # chosen on the tuning classes 0 and 2 (docs/methods.md)
PRESETS = {
    # Chen et al. (CVPR 2023) / the Langevin paper: one FGSM step of eps 0.1 rounded to the 8-bit grid, plain
    # argmax labels, SGD lr 1e-5 momentum 0.9, 10 passes of batch 64, BatchNorm in train mode, a remain batch
    # drawn (and forwarded, so BN statistics move) every step; phi is the published default 0 unless given
    "paper": dict(
        gamma=1e-4,
        lamda=0.0,
        lr=1e-5,
        momentum=0.9,
        weight_decay=0.0,
        epochs=10,
        min_steps=0,
        batch_size=64,
        eps=0.1,
        steps=1,
        alpha=None,
        quantize=True,
        soft_labels=False,
        top_k=None,
        wrong_class_only=False,
        phi=0.0,
        remain_each_step=True,
        bn="train",
        kept_class_targets="search",
    ),
}


@dataclass
class BoundaryShrinkSettings(Validated):
    eps: float = 0.1  # L-inf radius of the boundary search, in [0,1] pixel units
    steps: int = 1  # K sign-gradient steps (1 is the published setting)
    alpha: float | None = None  # step size; None: eps when K = 1, else 2.5 * eps / K
    quantize: bool = False  # round perturbed images to the nearest multiple of 1/255 inside the eps-ball
    soft_labels: bool = False  # train on f0's softmax at x_K instead of its argmax
    wrong_class_only: bool = True  # new label = most likely class other than y (published: plain argmax)
    top_k: int | None = None  # with soft_labels: keep the k largest probabilities, renormalized
    phi: float = 0.5  # weight of the remain-data term (published: 0)
    remain_each_step: bool = False  # draw and forward a remain batch every step even when phi = 0 (published)
    lr: float = 3e-3  # published: 1e-5
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 10  # passes over the forget set
    min_steps: int = 100  # at least this many outer updates (small forget sets)
    batch_size: int = 64
    bn: str = "train"  # BatchNorm during unlearning: "train" (as published) or "frozen" statistics
    graphs: bool | None = None  # CUDA only: each update as one captured CUDA graph (None: device.CUDA_GRAPHS_DEFAULT)
    search_batch: int | None = (
        None  # images per boundary-search batch (None: by image size on CPU, free memory on CUDA)
    )

    RULES = {
        **named("eps", "steps", "phi", "lr", "momentum", "weight_decay", "epochs", "min_steps", "batch_size"),
        "alpha": optional(SHARED["alpha"]),
        "search_batch": optional(SHARED["batch_size"]),
        "top_k": optional(SHARED["top_k"]),
        "bn": BN,
    }
    CHECKS = (
        requires(lambda s: s.top_k is None or s.soft_labels, "top_k only applies with soft labels; add --soft-labels"),
        # quantized images move in steps of 1/255, so a smaller ball holds no grid point but x0 itself
        requires(
            lambda s: not s.quantize or s.eps >= 1 / 255, "quantize needs eps >= 1/255 (one grey level), got {eps}"
        ),
        warns_if(
            lambda s: s.eps > 1,
            "eps {eps} is outside (0, 1]: images are in [0, 1], so the search is not limited at all",
        ),
    )

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else (self.eps if self.steps == 1 else 2.5 * self.eps / self.steps)


@dataclass
class LangevinSettings(BoundaryShrinkSettings):
    # gamma, lamda, steps (stage 1) and phi, lr, bn (stage 2): chosen by studies/fmnist_ablation.py on Fashion-MNIST
    # classes 0 and 2, checked on the held-out classes 4 and 8 (docs/methods.md, "Defaults from evidence");
    # published: gamma 1e-4, lamda 0, steps 1, phi 0, lr 1e-5, bn train
    steps: int = 5  # K sign-gradient steps of the boundary search
    phi: float = 1.0  # weight of the remain-data term
    lr: float = 1e-3
    bn: str = "frozen"  # BatchNorm during unlearning: "frozen" statistics, or "train" (as published)
    gamma: float = 1e-2  # Langevin temperature: weight of the noise inside the sign
    lamda: float = 0.1  # proximity weight: larger keeps x_K nearer x0 (needs steps > 1)
    lamda_schedule: str = "none"  # over outer iterations: none, inverse, exponential, linear
    lamda_decay: float = 0.99  # per-update factor of the exponential schedule
    noise: str = "normal"  # normal, laplace, cauchy, uniform
    # forget images whose class stays in the remain data (class:K:F, random:F): "calibrated" targets them at a
    # held-out image's confidence (kept_class.py); "search" sends them across the boundary like a whole class
    kept_class_targets: str = "calibrated"
    # weight-space Langevin (noisy projected gradient descent, engine/optim.NoisyProjected): off by default
    sigma: float = 0.0  # std of the Gaussian noise added to every weight after each update
    clip: float | None = None  # clip each update's gradient to this L2 norm
    radius: float | None = None  # keep the weights within this L2 distance of the original model's
    remain_steps: int = 0  # noisy updates on remain data alone after the forget updates
    # whole-class forget images: weight of a pull of their true-class confidence down to where a fresh head on f0's
    # remain features puts it (suppress.py); 0 is off
    suppress: float = 0.0
    suppress_level: float | None = None  # None: those retrain-free levels; a number: this level for every such image
    suppress_head_updates: int = SUPPRESS_HEAD_UPDATES  # SGD updates of that head: more lower the levels
    # whole-class forget images: after the updates, redraw their classes' rows of the linear head and fit them alone on
    # remain features for this many SGD updates, the other rows held (suppress.py); 0 is off
    refit_rows: int = 0

    # values that run exactly as if the setting did not exist: left out of what keys a stored result
    NEUTRAL = {
        "suppress": 0.0,
        "suppress_level": None,
        "suppress_head_updates": SUPPRESS_HEAD_UPDATES,
        "refit_rows": 0,
    }
    RULES = {
        **BoundaryShrinkSettings.RULES,
        **named("gamma", "lamda"),
        "lamda_schedule": one_of(LAMDA_SCHEDULES, "lamda schedule"),
        "lamda_decay": finite(),
        "noise": one_of(NOISE, "noise law"),
        "kept_class_targets": one_of(KEPT_CLASS_TARGETS, "kept-class target"),
        "sigma": non_negative(),
        "clip": optional(positive()),
        "radius": optional(positive()),
        "remain_steps": at_least(0),
        "suppress": non_negative(),
        "suppress_level": optional(finite()),
        "suppress_head_updates": at_least(1),
        "refit_rows": at_least(0),
    }
    CHECKS = (
        *BoundaryShrinkSettings.CHECKS,
        warns_if(
            lambda s: s.lamda > 0 and s.steps == 1,
            "lamda has no effect with steps=1: the proximity gradient lamda*(x - x0) is zero at x0; use --steps > 1, or --lamda 0 (lamda is {lamda:g})",
        ),
        warns_if(
            lambda s: s.suppress_level is not None and s.suppress == 0,
            "suppress_level has no effect with suppress 0; give --suppress a weight, or leave the level out",
        ),
    )

    def lamda_at(self, t: int, total: int) -> float:
        if self.lamda_schedule == "inverse":
            return self.lamda / (1 + t)
        if self.lamda_schedule == "exponential":
            return self.lamda * self.lamda_decay**t
        if self.lamda_schedule == "linear":
            return self.lamda * (1 - t / max(total, 1))
        return self.lamda


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CE with hard (int) or soft (probability) targets."""
    if target.dtype == torch.int64:
        return nn.functional.cross_entropy(logits, target)
    return -(target * logits.log_softmax(1)).sum(1).mean()


def langevin_unlearning(
    model: nn.Module,
    f0: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    s: LangevinSettings,
    *,
    device: torch.device,
    seed: int,
    progress: bool,
    diagnostics: SearchDiagnostics | None = None,
    mode: str | None = None,
    desc: str = "langevin",
) -> nn.Module:
    """The two-level loop. ``f0`` stays frozen; ``model`` (a copy of it) is updated in place; ``diagnostics``
    (if given) accumulates what the searches did. Each update is one sync-free step (``run_steps`` with
    ``batches``): eager, or on CUDA one captured graph (``s.graphs``); ``mode`` overrides (tests: "static")."""
    if s.phi > 0 and len(split.train_remain) == 0:
        raise UserError("phi > 0 needs remain data, but the remain set is empty; use phi 0")
    if s.remain_steps > 0 and len(split.train_remain) == 0:
        raise UserError("remain_steps > 0 needs remain data, but the remain set is empty; use remain_steps 0")
    if s.suppress > 0 and s.suppress_level is None and len(split.train_remain) == 0:
        raise UserError(
            "suppress's retrain-free levels are fitted on remain data, but the remain set is empty; give --suppress-level"
        )
    if s.refit_rows > 0 and len(split.train_remain) == 0:
        raise UserError(
            "refit_rows fits the forgotten rows on remain data, but the remain set is empty; use refit_rows 0"
        )
    if s.refit_rows > 0:
        linear_head(model)  # the rows to redraw exist: checked before any work
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed)
    forget = BatchStream(data, split.train_forget, s.batch_size, device=device, generator=shuffle)
    remain_in_updates = (s.phi > 0 or s.remain_each_step) and len(split.train_remain) > 0
    remain = (
        BatchStream(data, split.train_remain, s.batch_size, device=device, generator=shuffle, images=forget.images)
        if remain_in_updates or s.remain_steps > 0
        else None
    )
    total = max(s.epochs * forget.steps_per_pass(), s.min_steps)
    opt = make_optimizer(
        model.parameters(), "sgd", lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, device=device
    )
    generators: tuple[torch.Generator, ...] = ()
    if s.sigma > 0 or s.clip is not None or s.radius is not None:
        # a stream of its own, so the search noise of a seed is the same with and without weight noise
        weights = torch.Generator(device=device).manual_seed(seed + WEIGHT_NOISE_OFFSET)
        opt = NoisyProjected(opt, model.parameters(), sigma=s.sigma, clip=s.clip, radius=s.radius, generator=weights)
        generators = (weights,) if device.type == "cuda" else ()
    model.train(s.bn == "train")
    scheduled = s.lamda > 0 and s.lamda_schedule != "none"
    lamdas = [s.lamda_at(k, total) for k in range(total)] if scheduled else None  # lamda per update
    resident = isinstance(forget.images, torch.Tensor) and forget.images.device == device
    mode = mode or ("graphs" if resolve_graphs(s.graphs, device) and resident else "eager")
    # forget images whose class the remain data still holds: not pushed out of it but calibrated (kept_class.py)
    kept_all = kept_class_mask(data, split)
    kept = kept_all if s.kept_class_targets == "calibrated" and bool(kept_all.any()) else None
    held_out = None
    if kept is not None:
        held_out = HeldOutConfidence(f0, data, data.train.labels[split.train_forget][kept].unique(), device)
    # whole-class forget images pulled down to a retrain-free confidence level per image (suppress.py)
    levels = None
    if s.suppress > 0 and not kept_all.all():
        levels = suppression_levels(
            f0, data, split, ~kept_all, device, level=s.suppress_level, head_updates=s.suppress_head_updates, seed=seed
        )
    # stage 1, searched ahead in large batches (f0 is frozen): each update only gathers its targets
    ahead = SearchAhead(
        f0,
        forget,
        s,
        total=total,
        lamdas=lamdas,
        generator=noise,
        diagnostics=diagnostics,
        progress=progress,
        kept=kept,
        held_out=held_out,
    )

    def remain_loss(remain_idx: torch.Tensor) -> torch.Tensor:
        xr, yr = remain.batch(remain_idx)
        with torch.no_grad():
            remain_target = ahead.f0(xr).softmax(1) if s.soft_labels else yr
        return cross_entropy(model(xr), remain_target)

    def loss_at(forget_idx: torch.Tensor, key: torch.Tensor, remain_idx: torch.Tensor | None = None) -> torch.Tensor:
        """One update's loss: CE(f(x0), y') (+ the suppression pull, + phi * the remain term). Device work only."""
        x0, y0 = forget.batch(forget_idx)
        logits = model(x0)
        loss = cross_entropy(logits, ahead.targets(key))
        if levels is not None:
            loss = loss + s.suppress * suppression_loss(logits, y0, levels[forget_idx.to(device)])
        if remain_idx is not None:
            loss = loss + s.phi * remain_loss(remain_idx)
        return loss

    def batches(t: int) -> tuple[torch.Tensor, ...]:
        return ahead.next_batch(t) + ((remain.next_index(),) if remain_in_updates else ())

    steps = dict(progress=progress, mode=mode, generators=generators, check_every=forget.steps_per_pass())
    try:
        run_steps(model, loss_at, total, opt, desc=desc, batches=batches, **steps)
        if s.remain_steps:  # the noisy remain-only stage of noisy fine-tuning
            run_steps(
                model,
                remain_loss,
                s.remain_steps,
                opt,
                desc=f"{desc} remain",
                batches=lambda t: (remain.next_index(),),
                **steps,
            )
        if s.refit_rows and not kept_all.all():  # the forgotten classes' head rows as retraining leaves them
            forgotten = data.train.labels[split.train_forget][~kept_all].unique()
            refit_forgotten_rows(model, data, split, forgotten, updates=s.refit_rows, seed=seed, device=device)
        if diagnostics is not None:
            diagnostics.search.update(ahead.summary())
            diagnostics.search["kept_class_share"] = round(float(kept_all.float().mean()), 4)
            if levels is not None:
                diagnostics.search["suppress_level"] = round(float(levels[levels.isfinite()].mean()), 4)
            if s.refit_rows and not kept_all.all():
                diagnostics.search["refit_rows_classes"] = len(forgotten)
        return model.eval()
    finally:
        opt.release()


@register_method
class BoundaryShrink(UnlearningMethod):
    name = "boundary-shrink"
    paper = "Chen et al., Boundary Unlearning, CVPR 2023"
    Settings = BoundaryShrinkSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s = LangevinSettings(**asdict(self.settings), gamma=0.0, lamda=0.0, kept_class_targets="search")
        diagnostics = SearchDiagnostics(device)
        model = langevin_unlearning(
            model,
            original,
            data,
            split,
            s,
            device=device,
            seed=seed,
            progress=progress,
            diagnostics=diagnostics,
            desc=self.name,
        )
        self.diagnostics = diagnostics.summary()
        return model


@register_method
class LangevinUnlearning(UnlearningMethod):
    name = "langevin"
    paper = (
        "Langevin boundary unlearning (this toolkit's flagship): Boundary Shrink with perturbed sign-gradient search"
    )
    Settings = LangevinSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        diagnostics = SearchDiagnostics(device)
        model = langevin_unlearning(
            model,
            original,
            data,
            split,
            self.settings,
            device=device,
            seed=seed,
            progress=progress,
            diagnostics=diagnostics,
        )
        self.diagnostics = diagnostics.summary()
        return model


# settings only the Langevin search has (gamma, lamda, its schedule, the noise law): Boundary Shrink is their zero
LANGEVIN_ONLY = tuple(
    f.name for f in fields(LangevinSettings) if f.name not in {g.name for g in fields(BoundaryShrinkSettings)}
)
BOUNDARY_METHODS = ("langevin", "boundary-shrink")  # the methods this module registers, which `unlearn` runs


def preset_settings(preset: str | None, method: str) -> dict:
    """The settings of a preset for ``method``; Boundary Shrink drops the Langevin-only ones (it is gamma = lamda = 0)."""
    settings = dict(PRESETS[preset]) if preset else {}
    if method == "boundary-shrink":
        settings = {k: v for k, v in settings.items() if k not in LANGEVIN_ONLY}
    return settings
