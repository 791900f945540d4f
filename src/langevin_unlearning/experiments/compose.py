"""Model composition: one run's feature extractor with another run's classifier head.

One unlearning run keeps the remain data well, another forgets well; the composed model takes the first
one's ``features`` (everything but the head: input normalization and body) and the second one's
``classifier``, bit-identical, then optionally fine-tunes on the remain set and records forget/remain
accuracy after every epoch (the trajectory is the result). See docs/composition.md for the published recipe.

    model = compose(good_remain_model, good_forget_model)
    trajectory = finetune(model, data, split, FinetuneSettings(epochs=5), device=device, seed=0)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..core.errors import UserError
from ..core.validation import RULES as SHARED
from ..core.validation import Validated, at_least, one_of
from ..data import ForgetSplit, ImageDataset
from ..data.augment import augment, crop_padding
from ..engine.batches import batch_input, on_device
from ..engine.loop import run_steps
from ..engine.optim import make_optimizer
from ..evaluation.metrics import split_accuracies
from ..store.checkpoint import save_checkpoint
from ..store.runmeta import RunMeta

OPTIMIZERS = ("adam", "sgd")
ARCH_KEYS = ("name", "num_classes", "in_channels", "width", "args")  # what makes two models the same architecture


@dataclass
class FinetuneSettings(Validated):
    """Fine-tuning of the composed model on the remain set. Published recipe: Adam, lr 1e-4, up to 5 epochs."""

    epochs: int = 0  # passes over the remain set; 0 = the composition as it is
    optimizer: str = "adam"  # adam or sgd
    lr: float = 1e-4
    batch_size: int = 64
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    freeze_features: bool = False  # train the head only; features (and their BatchNorm statistics) stay A's
    augment: bool = True  # the training augmentation (random crops, flips where the dataset allows them)

    # named as the flags of `compose`, where these settings come from
    RULES = {
        "epochs": at_least(0).named("--finetune-epochs"),
        "optimizer": one_of(OPTIMIZERS, "optimizer"),
        "lr": SHARED["lr"].named("--lr"),
        "batch_size": SHARED["batch_size"].named("--batch-size"),
        "momentum": SHARED["momentum"],
        "weight_decay": SHARED["weight_decay"],
    }


@dataclass
class Parent:
    """A run folder, its loaded model and its sidecar."""

    path: Path
    model: nn.Module
    meta: RunMeta

    def record(self) -> dict:
        """What the composed model's sidecar says about this parent."""
        return {
            "run": str(self.path),
            "weights_sha256": self.meta.weights_sha256,
            "kind": self.meta.kind,
            "forget": self.meta.forget,
            **({"unlearning": self.meta.unlearning} if self.meta.unlearning is not None else {}),
        }


@dataclass
class Composition:
    model: nn.Module
    trajectory: list[dict] = field(default_factory=list)  # epoch 0 (as composed), then after each fine-tuning epoch


# ---------------------------------------------------------------- which runs may be composed


def architecture(meta: RunMeta) -> str:
    spec = meta.model or {}
    width = f" width {spec.get('width', 1.0):g}" if spec.get("width", 1.0) != 1.0 else ""
    args = " " + " ".join(f"{k}={v}" for k, v in sorted(spec.get("args", {}).items())) if spec.get("args") else ""
    return f"{spec.get('name')}{width}{args} with {spec.get('num_classes')} classes, {spec.get('in_channels')} channels"


def bound_forget(meta: RunMeta) -> str | None:
    """The forget spec a run's weights depend on: an original model's recorded spec was only for measuring."""
    if meta.kind == "original" and not meta.exclude_forget:
        return None
    return meta.forget


def check_same_task(metas: dict[str, RunMeta], forget: str) -> None:
    """Runs (by role) of one dataset and one forget spec; a one-line error naming what differs."""
    (role_a, a), *others = metas.items()
    for role_b, b in others:
        data_a, data_b = (a.dataset, a.image_size), (b.dataset, b.image_size)
        if data_a != data_b:
            size = lambda d: f"{d[0]}" + (f" at {d[1]}px" if d[1] else "")  # noqa: E731
            raise UserError(
                f"the {role_a} and the {role_b} come from different datasets ({size(data_a)} vs {size(data_b)}); use runs of one dataset"
            )
    for role, meta in metas.items():
        spec = bound_forget(meta)
        if spec is not None and spec != forget:
            raise UserError(
                f"the {role} was made for forget spec {spec!r}, not {forget!r}; pass --forget {spec} or use runs made for {forget}"
            )
    if forget.count(":") == 2:  # class:K:F picks a seeded subset: the seeds must agree too
        seeds = {role: m.subset_seed for role, m in metas.items() if bound_forget(m) is not None}
        if len(set(seeds.values())) > 1:
            raise UserError(
                f"the runs chose the {forget} subset with different seeds ({', '.join(f'{r} {s}' for r, s in seeds.items())}); use runs of one seed"
            )


def check_parents(features_meta: RunMeta, head_meta: RunMeta, forget: str) -> None:
    """Both parents must be one architecture (name, size, timm args), one dataset and one forget spec."""
    spec_a, spec_b = features_meta.model or {}, head_meta.model or {}
    norm = lambda s: {k: s.get(k, 1.0 if k == "width" else {} if k == "args" else None) for k in ARCH_KEYS}  # noqa: E731
    if norm(spec_a) != norm(spec_b):
        raise UserError(
            f"the parents are different architectures (features run: {architecture(features_meta)}; head run: {architecture(head_meta)}); compose runs of one architecture"
        )
    check_same_task({"features run": features_meta, "head run": head_meta}, forget)


# ---------------------------------------------------------------- composing and fine-tuning


def compose(features: nn.Module, head: nn.Module) -> nn.Module:
    """A copy of ``features`` whose ``classifier`` holds ``head``'s classifier weights (parents untouched)."""
    for m in (features, head):
        if not hasattr(m, "classifier") or not hasattr(m, "features"):
            raise UserError(
                f"{type(m).__name__} has no features()/classifier split; compose needs models of this toolkit"
            )
    model = copy.deepcopy(features)
    model.classifier.load_state_dict(head.classifier.state_dict(), strict=True)
    return model.eval()


# the settings' optimizer names -> optim.py kinds: torch's own optimizers, so the published recipe's numbers hold
OPTIMIZER_KINDS = {"adam": "torch-adam", "sgd": "torch-sgd"}


def finetune(
    model: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    s: FinetuneSettings,
    *,
    device: torch.device,
    seed: int = 0,
    progress: bool = True,
    on_epoch: Callable[[int, nn.Module], dict] | None = None,
) -> list[dict]:
    """Train ``model`` in place on the remain set for ``s.epochs`` passes; return the trajectory: one row per
    epoch (0 = before fine-tuning) with forget/remain accuracy and whatever ``on_epoch(epoch, model)`` adds."""
    model.to(device)

    def row(epoch: int) -> dict:
        return {
            "epoch": epoch,
            **split_accuracies(model, data, split, device, test_acc=False),
            **(on_epoch(epoch, model) if on_epoch else {}),
        }

    trajectory = [row(0)]
    if s.epochs == 0:
        return trajectory
    if len(split.train_remain) == 0:
        raise UserError("the remain set is empty: there is nothing to fine-tune on; use --finetune-epochs 0")
    head_ids = {id(p) for p in model.classifier.parameters()}
    frozen = [p for p in model.parameters() if s.freeze_features and id(p) not in head_ids]
    params = [p for p in model.parameters() if not (s.freeze_features and id(p) not in head_ids)]
    opt = make_optimizer(
        params, OPTIMIZER_KINDS[s.optimizer], lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, device=device
    )
    images, labels = on_device(data.train.images, device), data.train.labels.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    aug = torch.Generator(device=device).manual_seed(seed)
    pad = crop_padding(data.image_shape[-1])
    index = split.train_remain
    steps_per_epoch = math.ceil(len(index) / s.batch_size)

    def passes():
        """Remain batches, reshuffled on the host each pass (the recipe's order on every device)."""
        while True:
            yield from index[torch.randperm(len(index), generator=shuffle)].split(s.batch_size)

    batches = passes()

    def train_mode() -> None:
        if s.freeze_features:
            model.eval()  # features' BatchNorm statistics stay the features run's
            model.classifier.train()
        else:
            model.train()

    def loss_at(_: int) -> torch.Tensor:
        idx = next(batches)
        x = batch_input(images, idx, device)
        if s.augment:
            x = augment(x, pad=pad, hflip=data.hflip, generator=aug)
        return nn.functional.cross_entropy(model(x), labels[idx.to(labels.device)])

    def end_of_epoch(done: int, _: float) -> dict:
        model.eval()
        trajectory.append(row(done // steps_per_epoch))
        train_mode()  # for the next epoch
        return {"forget": f"{trajectory[-1]['forget_acc']:.3f}", "remain": f"{trajectory[-1]['remain_acc']:.3f}"}

    for p in frozen:
        p.requires_grad_(False)
    try:
        train_mode()
        run_steps(
            model,
            loss_at,
            s.epochs * steps_per_epoch,
            opt,
            progress=progress,
            desc="fine-tune composed",
            check_every=steps_per_epoch,
            where=lambda done: f"fine-tuning epoch {done // steps_per_epoch},",
            on_check=end_of_epoch,
        )
    finally:
        model.eval()
        for p in frozen:
            p.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
    return trajectory


def compose_and_finetune(
    features: Parent,
    head: Parent,
    data: ImageDataset,
    split: ForgetSplit,
    s: FinetuneSettings,
    *,
    device: torch.device,
    seed: int = 0,
    progress: bool = True,
    on_epoch=None,
) -> Composition:
    """Check the parents, compose them and fine-tune (``s.epochs`` may be 0)."""
    check_parents(features.meta, head.meta, split.spec)
    model = compose(features.model, head.model)
    return Composition(
        model, finetune(model, data, split, s, device=device, seed=seed, progress=progress, on_epoch=on_epoch)
    )


def save_composition(
    run_dir: str | Path,
    comp: Composition,
    features: Parent,
    head: Parent,
    s: FinetuneSettings,
    *,
    forget: str,
    forget_seed: int,
    seed: int,
    metrics: dict,
) -> Path:
    """A checkpoint like any other (evaluate, compare, inspect take it) whose sidecar names both parents."""
    meta_a = features.meta
    meta = {
        "kind": "composed",
        "dataset": meta_a.dataset,
        "data": meta_a.data,
        "classes": meta_a.classes,
        "forget": forget,
        "forget_seed": forget_seed,
        "seed": seed,
        "composition": {"features": features.record(), "head": head.record(), "finetune": asdict(s)},
        "trajectory": comp.trajectory,
        "accuracy": {
            k: metrics[k] for k in ("test_acc", "forget_acc", "remain_acc", "train_forget_acc") if k in metrics
        },
    }
    meta["data_fingerprint"] = meta_a.data_fingerprint  # so evaluating it checks the data too
    metrics_json = {
        "seed": seed,
        "forget": forget,
        "method": "compose",
        **meta["composition"],
        **metrics,
        "trajectory": comp.trajectory,
    }
    save_checkpoint(run_dir, comp.model, meta_a.model, meta, extra_json={"metrics.json": metrics_json})  # one unit
    return Path(run_dir)
