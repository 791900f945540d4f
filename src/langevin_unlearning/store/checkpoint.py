"""Checkpoints: ``model.safetensors`` (weights only, never pickled) + ``model.json`` (everything else).

The sidecar records how to rebuild the model, the data and forget spec it was trained with, the seed,
timings, accuracies, versions and the sha256 of the weights file, which loading verifies.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..core.digest import file_sha256
from ..core.errors import UserError, doing
from ..core.validation import MAX_CLASSES
from ..core.version import __version__
from ..models.registry import create_model
from .atomic import atomic_dir, umask, write_json
from .files import read_json
from .runmeta import RunMeta

WEIGHTS, SIDECAR = "model.safetensors", "model.json"


def model_spec(
    name: str, *, num_classes: int, in_channels: int, mean, std, width: float, args: dict | None = None
) -> dict:
    """How to rebuild a model; ``args`` (timm models: the keyword arguments timm got) only where there are any."""
    spec = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "mean": list(mean),
        "std": list(std),
        "width": width,
    }
    return {**spec, "args": dict(args)} if args else spec


def save_checkpoint(
    run_dir: str | Path, model: nn.Module, spec: dict, meta: dict[str, Any], extra_json: dict[str, Any] | None = None
) -> RunMeta:
    """Write weights, sidecar (and ``extra_json`` files, e.g. metrics.json) as one unit: into a temporary
    sibling folder, then one rename onto ``run_dir``. A crash leaves the old run or the new, never a mix."""
    run_dir = Path(run_dir)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with doing(f"saving {run_dir}"), atomic_dir(run_dir) as tmp:
        save_weights(state, tmp / WEIGHTS)
        os.chmod(tmp / WEIGHTS, 0o666 & ~umask())  # safetensors writes 0600; runs get the usual permissions
        sidecar = {
            "model": spec,
            **meta,
            "versions": {
                "langevin_unlearning": __version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
            "weights_sha256": file_sha256(tmp / WEIGHTS),
        }
        record = RunMeta.from_dict(sidecar)
        write_json(tmp / SIDECAR, record.to_dict())
        for name, obj in (extra_json or {}).items():
            write_json(tmp / name, obj)
    return record


def save_weights(state: dict, file: Path) -> None:
    """safetensors' ``save_file``; its I/O failures (full disk, file-size limit) are raised as the OSError they
    are, naming ``file``, so the CLI reports them like any other (cli/guard.py) instead of as a bug."""
    try:
        save_file(state, str(file))
    except SafetensorError as e:
        code = re.search(r"os error (\d+)", str(e))
        if code is None:
            raise
        raise OSError(int(code[1]), os.strerror(int(code[1])), str(file)) from None


def resolve(path: str | Path) -> tuple[Path, Path]:
    """Accept a run folder, its .safetensors or its .json; return (weights, sidecar)."""
    p = Path(path)
    if p.is_dir():
        p = p / WEIGHTS
    weights = p.with_suffix(".safetensors")
    sidecar = p.with_suffix(".json")
    for f in (weights, sidecar):
        if not f.is_file():
            raise UserError(f"checkpoint file {f} not found; pass a run folder written by `langevin-unlearn train`")
    return weights, sidecar


def read_meta(path: str | Path) -> RunMeta:
    """The sidecar as a ``RunMeta``; UserError when it is not JSON, not an object, or lacks what loading needs."""
    _, sidecar = resolve(path)
    meta = read_json(sidecar, "a run's sidecar", "the checkpoint is corrupted, so retrain or restore it")
    problem = sidecar_problem(meta)
    if problem:
        raise UserError(
            f"{sidecar} {problem}; it was not written by langevin-unlearn or was edited, so retrain or restore it"
        )
    return RunMeta.from_dict(meta)


# what every sidecar holds, and of what type: loading reads these without further checks
REQUIRED = {"model": dict, "weights_sha256": str}
REQUIRED_MODEL = {"name": str, "num_classes": int, "in_channels": int, "mean": list, "std": list}


def sidecar_problem(meta: Any) -> str | None:
    """What is missing or mistyped in a sidecar (None when it is usable)."""
    if not isinstance(meta, dict):
        return f"holds a JSON {type(meta).__name__}, not an object"
    for table, required, where in ((meta, REQUIRED, ""), (meta.get("model"), REQUIRED_MODEL, "model.")):
        if not isinstance(table, dict):
            return f"has no {where.rstrip('.') or 'model'} object"
        for key, kind in required.items():
            value = table.get(key)
            if value is None:
                return f"lacks {where}{key}"
            if not isinstance(value, kind) or isinstance(value, bool):
                return f"has a {type(value).__name__} for {where}{key}, not a {kind.__name__}"
    spec = meta["model"]
    if spec["num_classes"] > MAX_CLASSES or spec["in_channels"] > 64:
        return f"describes an implausibly large model ({spec['num_classes']} classes, {spec['in_channels']} channels)"
    if (
        spec["num_classes"] < 1
        or spec["in_channels"] < 1
        or len(spec["mean"]) != spec["in_channels"]
        or len(spec["std"]) != spec["in_channels"]
    ):
        return "describes an impossible model (classes, channels or mean/std do not fit)"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*spec["mean"], *spec["std"]]):
        return "has non-numbers in model.mean or model.std"
    if not isinstance(spec.get("width", 1.0), (int, float)) or isinstance(spec.get("width", 1.0), bool):
        return "has a non-number model.width"
    return None


def load_checkpoint(
    path: str | Path, *, expect_model: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, RunMeta]:
    """Rebuild the model from its sidecar, verify the weights' hash and shapes, return (model, meta)."""
    weights, sidecar = resolve(path)
    meta = read_meta(path)
    spec = meta.model
    if expect_model is not None and spec["name"] != expect_model.lower():
        raise UserError(
            f"checkpoint {weights.parent} holds a {spec['name']} model, not {expect_model}; pass the matching --model"
        )
    if meta.weights_sha256 != file_sha256(weights):
        raise UserError(f"{weights} does not match the sha256 in {sidecar.name}: the file is corrupted or was replaced")
    try:
        state = load_file(str(weights))
    except SafetensorError as e:
        raise UserError(f"{weights} is not a readable safetensors file ({e}); the checkpoint is corrupted") from None
    model = create_model(
        spec["name"],
        num_classes=spec["num_classes"],
        in_channels=spec["in_channels"],
        mean=spec["mean"],
        std=spec["std"],
        width=spec.get("width", 1.0),
        args=spec.get("args"),
    )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise UserError(
            f"weights in {weights} do not fit a {spec['name']} model as described in {sidecar.name}; the checkpoint is from another architecture"
        ) from None
    return model.to(device), meta
