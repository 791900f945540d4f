"""Device, precision and CUDA-graph defaults, and seeding: the few lines every command shares.

CPU threads: core/threads.py.

The per-device defaults below are *measured*, not assumed: ``benchmarks/gpu_check.py`` prints the
numbers that decide them (see docs/performance.md). Change the constants, not the resolvers.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from .errors import UserError

PRECISIONS = ("fp32", "bf16")

# ---------------------------------------------------------------------------------------------------
# MEASURED DEFAULTS: the integrator sets these after running benchmarks/gpu_check.py on a GPU.
#   CUDA_GRAPHS_DEFAULT: capture the whole training / unlearning step as one CUDA graph on CUDA
#     (True once gpu_check shows "captured" faster than "eager" with the same accuracy).
#   CUDA_PRECISION_DEFAULT: "bf16" or "fp32" on CUDA, whichever gpu_check shows faster at batch 64.
#   CPU_PRECISION_DEFAULT: CPUs without native bf16 (emulated bf16 is much slower): "fp32".
#   CPU_NATIVE_BF16_PRECISION_DEFAULT: CPUs with AVX512-BF16 or AMX: measured on a 2-core AMD EPYC (Zen 4),
#     bf16 trains AllCNN-0.25 1.47x faster at 28x28 Fashion-MNIST and 1.05x at 8x8 digits, same accuracy.
CUDA_GRAPHS_DEFAULT = (
    True  # graphs/eager 3.2x (fp32) and 5x (bf16) at batch 64 on an H100, same accuracy: docs/results/gpu_check_h100.md
)
CUDA_PRECISION_DEFAULT = "bf16"  # same run: bf16/fp32 1.37x with graphs at batch 64
CPU_PRECISION_DEFAULT = "fp32"
CPU_NATIVE_BF16_PRECISION_DEFAULT = "bf16"
# ---------------------------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for, but this machine has no CUDA GPU; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def cpu_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): where bf16 autocast is faster, not slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str | None, device: torch.device) -> str:
    """The measured per-device default (the constants above) unless asked."""
    if not name:
        if device.type == "cuda":
            name = CUDA_PRECISION_DEFAULT
        else:
            name = CPU_NATIVE_BF16_PRECISION_DEFAULT if cpu_native_bf16() else CPU_PRECISION_DEFAULT
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    return name


def resolve_graphs(asked: bool | None, device: torch.device) -> bool:
    """Whether to run steps as CUDA graphs: as asked (--graphs / --no-graphs), else ``$LANGEVIN_CUDA_GRAPHS``
    (1 or 0) where set, else the measured default.

    CUDA graphs need a CUDA device; on the CPU the same step function always runs eagerly."""
    if device.type != "cuda":
        if asked:
            raise UserError("--graphs needs a CUDA device; drop --graphs (the CPU always runs steps eagerly)")
        return False
    if asked is None:
        env = os.environ.get("LANGEVIN_CUDA_GRAPHS", "").strip().lower()  # a machine-wide default: 1/0
        return {"1": True, "true": True, "0": False, "false": False}.get(env, CUDA_GRAPHS_DEFAULT)
    return bool(asked)


def autocast(device: torch.device, precision: str, *, cache: bool = True):
    """bf16 autocast, or nothing for fp32. ``cache=False`` inside CUDA-graph capture (torch requires it)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (CPU and CUDA); return a CPU generator for index shuffles."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` for on-device shuffles: ``generator`` itself on the CPU, else one seeded
    from it (one draw from the CPU generator, no device sync), so one seed still controls everything."""
    if device.type == "cpu":
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)
