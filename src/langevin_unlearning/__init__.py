"""langevin-unlearning: make a trained image classifier forget chosen training data, and measure how well it forgot.

    import langevin_unlearning as lu
    original = lu.train("digits", out="runs/original", width=0.25, epochs=12, lr=0.05)
    retrained = lu.train("digits", out="runs/retrained", width=0.25, epochs=12, lr=0.05, forget="class:3", exclude_forget=True)
    model, metrics = lu.unlearn(original, "class:3", method="langevin", retrain=retrained)

This module only re-exports. Names are resolved on first use, so ``import langevin_unlearning`` (and the
command line's start-up) does not import torch until something needs it.
"""

from __future__ import annotations

import importlib

from .core.version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "train": "experiments.api",
    "unlearn": "experiments.api",
    "evaluate": "experiments.api",
    "compare": "experiments.api",
    "load_run": "experiments.api",
    "list_methods": "experiments.api",
    "Run": "experiments.api",
    "create_method": "methods",
    "register_method": "methods",
    "UnlearningMethod": "methods",
    "ImageDataset": "data",
    "ForgetSplit": "data",
    "load_dataset": "data",
    "UserError": "core.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
