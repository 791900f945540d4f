"""The Python API in a few functions: train a run, unlearn from it, evaluate, compare, load.

    original = train("digits", out="runs/original", width=0.25, epochs=12, lr=0.05)
    retrained = train("digits", out="runs/retrained", width=0.25, epochs=12, lr=0.05, forget="class:3", exclude_forget=True)
    model, metrics = unlearn(original, "class:3", method="langevin", retrain=retrained)

Each function takes run folders (or the ``Run`` that ``train`` / ``load_run`` return) and does what the matching
command does, without printing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..core.device import resolve_device
from ..core.errors import UserError
from ..engine.train import TrainConfig
from ..evaluation.closeness import avg_gap, gap
from ..evaluation.metrics import evaluate as evaluate_model
from ..methods import METHODS, create_method
from ..store.checkpoint import load_checkpoint
from ..store.runmeta import RunMeta
from .compare import compare as compare_methods
from .compare import method_names
from .setup import load_setup, save_unlearned, unlearn_and_evaluate
from .training import train_run


@dataclass
class Run:
    """A run folder on disk with its model and sidecar; usable wherever a path to a run is."""

    path: Path
    model: nn.Module
    meta: RunMeta

    def __fspath__(self) -> str:
        return str(self.path)


RunLike = str | os.PathLike | Run


def load_run(path: RunLike, *, device: str = "cpu") -> Run:
    """Load a run folder (weights verified against the sidecar's sha256)."""
    model, meta = load_checkpoint(os.fspath(path), device=resolve_device(device))
    return Run(Path(os.fspath(path)), model, meta)


def list_methods() -> list[str]:
    """The registered unlearning methods, in `compare --methods all` order."""
    return METHODS.names()


def train(
    dataset: str,
    *,
    out: str | os.PathLike,
    model: str = "allcnn",
    width: float = 1.0,
    forget: str | None = None,
    exclude_forget: bool = False,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    **train_settings,
) -> Run:
    """Train an original model (or, with ``exclude_forget``, the retrained reference) into the run folder ``out``.

    ``train_settings`` are ``TrainConfig`` fields (epochs, lr, batch_size, momentum, weight_decay, schedule, augment, ...)."""
    torch_device = resolve_device(device)
    net, meta, _ = train_run(
        dataset=dataset,
        model=model,
        cfg=TrainConfig(**train_settings),
        out=out,
        width=width,
        forget=forget,
        exclude_forget=exclude_forget,
        seed=seed,
        device=torch_device,
        progress=progress,
    )
    return Run(Path(out), net, meta)


def unlearn(
    original: RunLike,
    forget: str,
    *,
    method: str = "langevin",
    retrain: RunLike | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    out: str | os.PathLike | None = None,
    **settings,
) -> tuple[nn.Module, dict]:
    """Unlearn ``forget`` from the original run with ``method`` (its settings as keywords); return the model and its metrics.

    With ``retrain`` the metrics hold the closeness to it (agreement, JS divergence, ``gap``); with ``out`` the model is saved there."""
    chosen = create_method(method, **settings)  # bad settings fail before anything loads
    setup = load_setup(
        os.fspath(original),
        forget,
        retrain=os.fspath(retrain) if retrain is not None else None,
        device=resolve_device(device),
    )
    model, metrics = unlearn_and_evaluate(setup, chosen, seed=seed, progress=progress)
    if setup.retrain is not None:
        target = evaluate_model(
            setup.retrain, setup.data, setup.split, device=setup.device, seed=seed, selective=setup.selective
        )
        metrics["gap"], metrics["avg_gap"] = gap(metrics, target), avg_gap(metrics, target)
    if out is not None:
        save_unlearned(Path(out), model, setup, chosen, metrics, seed)
    return model, metrics


def evaluate(
    model: RunLike | nn.Module, forget: str, *, reference: RunLike | None = None, seed: int = 0, device: str = "auto"
) -> dict:
    """Every metric of ``model`` on the forget spec; with ``reference`` (the retrained run) also the closeness to it.

    A bare ``nn.Module`` is evaluated on the data of ``reference``."""
    torch_device = resolve_device(device)
    if isinstance(model, nn.Module):
        if reference is None:
            raise UserError(
                "evaluating a model object needs reference=RUN (its data and forget split); or pass the model's run folder"
            )
        setup = load_setup(
            os.fspath(reference), forget, device=torch_device, roles=("reference", "--retrain"), any_model=True
        )
        ref = setup.original
        return evaluate_model(
            model.to(torch_device), setup.data, setup.split, reference=ref, device=torch_device, seed=seed
        )
    setup = load_setup(
        os.fspath(model),
        forget,
        retrain=os.fspath(reference) if reference is not None else None,
        device=torch_device,
        roles=("model", "reference"),
        any_model=True,
    )
    return evaluate_model(
        setup.original, setup.data, setup.split, reference=setup.retrain, device=torch_device, seed=seed
    )


def compare(
    original: RunLike,
    retrain: RunLike,
    forget: str,
    *,
    methods: str | Sequence[str] = "all",
    seeds: int = 1,
    seed: int = 0,
    analyses: Sequence[str] = (),
    device: str = "auto",
    progress: bool = True,
) -> list[dict]:
    """Every method from the same original, scored against the retrained run: the rows `compare` writes (reference rows first)."""
    names = method_names(methods) if isinstance(methods, str) else method_names(",".join(methods))
    setup = load_setup(os.fspath(original), forget, retrain=os.fspath(retrain), device=resolve_device(device))
    return compare_methods(setup, names, list(range(seed, seed + seeds)), progress=progress, analyses=list(analyses))
