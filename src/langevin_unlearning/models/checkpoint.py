"""Checkpoints: ``model.safetensors`` (weights only, never pickled) + ``model.json`` (everything else).

The sidecar records how to rebuild the model, the data and forget spec it was trained with, the seed,
timings, accuracies, versions and the sha256 of the weights file, which loading verifies.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from ..errors import UserError
from ..io import atomic_write, write_json
from .registry import create_model

WEIGHTS, SIDECAR = "model.safetensors", "model.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_spec(name: str, *, num_classes: int, in_channels: int, mean, std, width: float, args: dict | None = None) -> dict:
    """How to rebuild a model; ``args`` (timm models: the keyword arguments timm got) only where there are any."""
    spec = {"name": name, "num_classes": num_classes, "in_channels": in_channels, "mean": list(mean), "std": list(std), "width": width}
    return {**spec, "args": dict(args)} if args else spec


def save_checkpoint(run_dir: str | Path, model: nn.Module, spec: dict, meta: dict[str, Any]) -> Path:
    """Write weights then sidecar, each atomically; returns the run folder."""
    run_dir = Path(run_dir)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights = atomic_write(run_dir / WEIGHTS, lambda tmp: save_file(state, tmp))
    sidecar = {
        "model": spec,
        **meta,
        "versions": {"langevin_unlearning": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "weights_sha256": sha256(weights),
    }
    write_json(run_dir / SIDECAR, sidecar)
    return run_dir


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


def read_meta(path: str | Path) -> dict:
    _, sidecar = resolve(path)
    try:
        return json.loads(sidecar.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{sidecar} is not valid JSON ({e.msg}); the checkpoint is corrupted") from None


def load_checkpoint(path: str | Path, *, expect_model: str | None = None, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from its sidecar, verify the weights' hash and shapes, return (model, meta)."""
    weights, sidecar = resolve(path)
    meta = read_meta(path)
    spec = meta.get("model")
    if not isinstance(spec, dict) or "name" not in spec:
        raise UserError(f"{sidecar} has no model description; it was not written by langevin-unlearn")
    if expect_model is not None and spec["name"] != expect_model.lower():
        raise UserError(f"checkpoint {weights.parent} holds a {spec['name']} model, not {expect_model}; pass the matching --model")
    if meta.get("weights_sha256") != sha256(weights):
        raise UserError(f"{weights} does not match the sha256 in {sidecar.name}: the file is corrupted or was replaced")
    try:
        state = load_file(str(weights))
    except SafetensorError as e:
        raise UserError(f"{weights} is not a readable safetensors file ({e}); the checkpoint is corrupted") from None
    model = create_model(spec["name"], num_classes=spec["num_classes"], in_channels=spec["in_channels"], mean=spec["mean"], std=spec["std"], width=spec.get("width", 1.0), args=spec.get("args"))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise UserError(f"weights in {weights} do not fit a {spec['name']} model as described in {sidecar.name}; the checkpoint is from another architecture") from None
    return model.to(device), meta
