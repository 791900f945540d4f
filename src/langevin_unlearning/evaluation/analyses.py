"""Forgetting analyses by name (``--analyses relearn,probe``): each adds columns to a model's metrics row.

    relearn  relearn_steps: SGD steps on a small forget sample until forget accuracy is back to half the
             original's (evaluation/relearn.py); ``max_steps + 1`` means "not within max_steps"
    probe    probe_acc: a linear head on frozen features, fitted on remain images plus a small forget
             sample, scored on held-out forget images (evaluation/probe.py)

Both are slow next to the accuracies (fine-tuning, a logistic regression), so they run only when asked.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..core.errors import UserError
from ..core.registry import Registry
from ..data import ForgetSplit, ImageDataset
from .probe import probe_accuracy
from .relearn import forget_accuracy, relearn_steps

Analysis = Callable[..., dict]
ANALYSES: Registry[Analysis] = Registry("analysis")
ANALYSIS_COLUMNS = ["relearn_steps", "probe_acc"]


@ANALYSES.register("relearn")
def _relearn(
    model: nn.Module, data: ImageDataset, split: ForgetSplit, *, device, seed: int, target: float | None
) -> dict:
    return {"relearn_steps": relearn_steps(model, data, split, device=device, seed=seed, target=target)}


@ANALYSES.register("probe")
def _probe(
    model: nn.Module, data: ImageDataset, split: ForgetSplit, *, device, seed: int, target: float | None
) -> dict:
    return {"probe_acc": probe_accuracy(model, data, split, device=device, seed=seed)}


def analysis_names(spec: str | None) -> list[str]:
    """'' / None -> none; 'all' -> every analysis; else a comma-separated list of registered names."""
    if not spec:
        return []
    if spec == "all":
        return ANALYSES.names()
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UserError("--analyses is empty; use relearn, probe, relearn,probe or all")
    for n in names:
        ANALYSES.get(n)  # unknown -> one-line error listing them
    return names


def run_analyses(
    model: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    names: list[str],
    *,
    device,
    seed: int = 0,
    original: nn.Module | None = None,
    target: float | None = None,
) -> dict:
    """The named analyses' columns for ``model``. ``original`` (or its forget accuracy ``target``) sets the
    relearning threshold: half the original model's forget accuracy."""
    if "relearn" in names and target is None:
        if original is None:
            raise UserError("relearning needs the original model's forget accuracy: pass the original model's run")
        target = forget_accuracy(original, data, split, device=device, seed=seed)
    out: dict = {}
    for name in names:
        out.update(ANALYSES.get(name)(model, data, split, device=device, seed=seed, target=target))
    return out
