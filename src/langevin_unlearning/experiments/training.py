"""Train an original or retrained model and save it as a run folder: the API behind `langevin-unlearn train`."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..core.device import seed_everything
from ..core.digest import index_digest
from ..core.errors import doing
from ..core.threads import use_threads, work_size
from ..core.validation import capped_batch, check
from ..data import DataOptions, ImageDataset, load_dataset, parse_forget
from ..data.fingerprint import fingerprint
from ..engine.train import TrainConfig, TrainResult, train_model
from ..evaluation.metrics import split_accuracies
from ..models import create_model, load_local_weights
from ..store.checkpoint import model_spec, save_checkpoint
from ..store.paths import check_run_target
from ..store.runmeta import RunMeta


def thread_count() -> int:
    """torch's intra-op CPU threads: results on CPU are bit-identical for the same seed and thread count."""
    return torch.get_num_threads()


def data_options_meta(options: DataOptions) -> dict:
    return {"image_size": options.image_size, "split_seed": options.seed}


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
    model_args: dict | None = None,
    weights: str | Path | None = None,
    forget_seed: int | None = None,
    recipe_sha256: str | None = None,
) -> tuple[torch.nn.Module, RunMeta, TrainResult]:
    """Train on all training images, or with ``exclude_forget`` on the remain set only (the retrained reference).

    ``model_args``: architecture arguments of a ``timm:`` model; ``weights``: a local safetensors file to start from (timm models).
    ``forget_seed`` (default: ``seed``) picks a class:K:F subset, so models of several seeds can share one forget set.
    """
    from ..core.errors import UserError

    check("seed", seed)
    check_run_target(Path(out), "the run folder")
    options = options or DataOptions(seed=seed)
    data = data or load_dataset(dataset, options)
    if exclude_forget and not forget:
        raise UserError("--exclude-forget needs --forget SPEC (which images to leave out)")
    forget_seed = seed if forget_seed is None else forget_seed
    split = parse_forget(forget, data, forget_seed) if forget else None
    train_index = split.train_remain if (split and exclude_forget) else torch.arange(len(data.train))
    batch_size = capped_batch(cfg.batch_size, len(train_index))
    if batch_size != cfg.batch_size:
        cfg = replace(cfg, batch_size=batch_size)  # the sidecar records the batch size actually used
    generator = seed_everything(seed)
    net = create_model(
        model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        mean=data.mean,
        std=data.std,
        width=width,
        args=model_args,
        image_size=data.image_shape[-1],
    )
    spec = model_spec(
        model.lower(),
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        mean=data.mean,
        std=data.std,
        width=width,
        args=net.model_args,
    )
    init = load_local_weights(net, weights) if weights else None
    threads = use_threads(work_size(data.image_shape, width))  # the work is known now: data and model
    with doing(f"training {Path(out).name}"):
        result = train_model(
            net,
            data,
            train_index,
            cfg,
            device=device,
            generator=generator,
            eval_index=torch.arange(len(data.test)),
            progress=progress,
            desc=f"train {Path(out).name}",
        )
    meta = {
        "kind": "retrained" if exclude_forget else "original",
        "dataset": dataset,
        "data": data_options_meta(options),
        "classes": data.classes,
        "forget": split.spec if split else forget,  # the canonical spelling, as parse_forget wrote it
        "exclude_forget": exclude_forget,
        "seed": seed,
        "forget_seed": forget_seed,
        "torch_threads": threads.count,
        "threads_reason": threads.reason,
        "data_fingerprint": fingerprint(data),
        **({"init_weights": init} if init else {}),
        **({"recipe_sha256": recipe_sha256} if recipe_sha256 else {}),
        "train": asdict(cfg),
        "train_images": int(len(train_index)),
        "train_indices_sha256": index_digest(train_index),
        "train_seconds": round(result.seconds, 3),
        "samples_per_second": round(result.samples_per_second, 1),
        "device": str(device),
        "step_mode": result.mode,  # eager or graphs (CUDA graphs)
        "epoch_losses": [round(v, 5) for v in result.losses],
        "epoch_test_acc": [round(v, 5) for v in result.test_acc],
        "accuracy": split_accuracies(net, data, split, device),
    }
    return net, save_checkpoint(out, net, spec, meta), result
