"""Provenance of a result: software versions, machine, seeds, and hashes of the models and forget set.

Enough to tell later whether two result files came from the same models, the same forget set and the
same software: the models' hashes are the ``weights_sha256`` their sidecars verify on load, and the
forget set's hash is the sha256 of its sorted training-set indices (int64), the same digest the
retrained model's sidecar records for the remain set.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Sequence
from typing import Any

import torch

from ..core.digest import index_digest
from ..core.version import __version__
from .runmeta import RunMeta


def versions(device: torch.device | str = "cpu") -> dict:
    """Python, torch, this package, the platform, the device's name and torch's CPU thread count."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = _cpu_name()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "langevin_unlearning": __version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": device_name,
        "torch_threads": torch.get_num_threads(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def model_record(meta: RunMeta | None, path: Any = None) -> dict | None:
    """What identifies one saved model: its weights' sha256 (from the sidecar), kind, seed and architecture."""
    if meta is None:
        return None
    record = {
        "weights_sha256": meta.weights_sha256,
        "kind": meta.kind,
        "seed": meta.seed,
        "model": (meta.model or {}).get("name"),
    }
    if path is not None:
        record["path"] = str(path)
    return record


def forget_record(spec: str, train_forget: torch.Tensor, split_seed: int | None = None) -> dict:
    index = torch.sort(torch.as_tensor(train_forget, dtype=torch.int64)).values
    return {
        "spec": spec,
        "split_seed": split_seed,
        "train_images": int(len(index)),
        "train_indices_sha256": index_digest(index),
    }


def provenance(
    setup, seeds: Sequence[int], *, command: str, paths: dict[str, Any] | None = None, extra: dict | None = None
) -> dict:
    """Provenance of an experiment on ``setup`` (an ``experiment.Setup``) run with ``seeds``."""
    paths = paths or {}
    models = {"original": model_record(setup.original_meta, paths.get("original"))}
    if setup.retrain_meta is not None:
        models["retrain"] = model_record(setup.retrain_meta, paths.get("retrain"))
    return {
        "command": command,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": versions(setup.device),
        "seeds": [int(s) for s in seeds],
        "dataset": setup.original_meta.dataset,
        "classes": [str(c) for c in setup.data.classes],
        "forget": forget_record(setup.split.spec, setup.split.train_forget, setup.split_seed),
        "models": models,
        **(extra or {}),
    }
