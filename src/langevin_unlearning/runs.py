"""Train an original or retrained model and save it as a run folder: the API behind `langevin-unlearn train`."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import torch

from .data import DataOptions, ForgetSplit, ImageDataset, load_dataset, parse_forget
from .device import seed_everything
from .evaluation.predict import accuracy
from .models import create_model, model_spec, save_checkpoint
from .training import TrainConfig, TrainResult, train_model


def index_digest(index: torch.Tensor) -> str:
    return hashlib.sha256(index.to(torch.int64).numpy().tobytes()).hexdigest()


def data_options_meta(options: DataOptions) -> dict:
    return {"image_size": options.image_size, "split_seed": options.seed}


def split_accuracies(model, data: ImageDataset, split: ForgetSplit | None, device) -> dict:
    """Test accuracy, and with a forget split the forget / remain accuracies on test and train."""
    acc = {"test_acc": accuracy(model, data.test.images, data.test.labels, torch.arange(len(data.test)), device)}
    if split is not None:
        acc["forget_acc"] = accuracy(model, data.test.images, data.test.labels, split.test_forget, device)
        acc["remain_acc"] = accuracy(model, data.test.images, data.test.labels, split.test_remain, device)
        acc["train_forget_acc"] = accuracy(model, data.train.images, data.train.labels, split.train_forget, device)
    return acc


def train_run(
    *,
    dataset: str,
    model: str,
    cfg: TrainConfig,
    out: str | Path,
    width: float = 1.0,
    forget: str | None = None,
    exclude_forget: bool = False,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    options: DataOptions | None = None,
    progress: bool = True,
    data: ImageDataset | None = None,
    forget_seed: int | None = None,
) -> tuple[torch.nn.Module, dict, TrainResult]:
    """Train on all training images, or with ``exclude_forget`` on the remain set only (the retrained reference).

    ``forget_seed`` (default: ``seed``) picks a class:K:F subset, so models of several seeds can share one forget set.
    """
    from .errors import UserError

    options = options or DataOptions(seed=seed)
    data = data or load_dataset(dataset, options)
    if exclude_forget and not forget:
        raise UserError("--exclude-forget needs --forget SPEC (which images to leave out)")
    forget_seed = seed if forget_seed is None else forget_seed
    split = parse_forget(forget, data, forget_seed) if forget else None
    train_index = split.train_remain if (split and exclude_forget) else torch.arange(len(data.train))
    generator = seed_everything(seed)
    spec = model_spec(model.lower(), num_classes=data.num_classes, in_channels=data.in_channels, mean=data.mean, std=data.std, width=width)
    net = create_model(spec["name"], num_classes=data.num_classes, in_channels=data.in_channels, mean=data.mean, std=data.std, width=width)
    result = train_model(net, data, train_index, cfg, device=device, generator=generator, eval_index=torch.arange(len(data.test)), progress=progress, desc=f"train {Path(out).name}")
    meta = {
        "kind": "retrained" if exclude_forget else "original",
        "dataset": dataset,
        "data": data_options_meta(options),
        "classes": data.classes,
        "forget": forget,
        "exclude_forget": exclude_forget,
        "seed": seed,
        "forget_seed": forget_seed,
        "train": asdict(cfg),
        "train_images": int(len(train_index)),
        "train_indices_sha256": index_digest(train_index),
        "train_seconds": round(result.seconds, 3),
        "samples_per_second": round(result.samples_per_second, 1),
        "device": str(device),
        "epoch_losses": [round(v, 5) for v in result.losses],
        "epoch_test_acc": [round(v, 5) for v in result.test_acc],
        "accuracy": split_accuracies(net, data, split, device),
    }
    save_checkpoint(out, net, spec, meta)
    return net, meta, result
