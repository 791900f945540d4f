"""Device, precision and seeding: the few lines every command shares."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from .errors import UserError

PRECISIONS = ("fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for, but this machine has no CUDA GPU; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def resolve_precision(name: str | None, device: torch.device) -> str:
    """bf16 on CUDA by default (tensor cores); fp32 on CPU unless asked."""
    name = name or ("bf16" if device.type == "cuda" else "fp32")
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    return name


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (CPU and CUDA); return a CPU generator for index shuffles."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
