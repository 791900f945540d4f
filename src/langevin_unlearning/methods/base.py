"""The one interface every unlearning method follows (the scikit-learn way).

    method = create_method("langevin", gamma=1e-4, epochs=5)   # settings validated here
    unlearned = method.unlearn(model, data, split, device=device, seed=0)

``unlearn`` never modifies ``model``: it works on a copy and returns it. Settings are a dataclass per
method, so every default is visible, documented and recorded in the run's metadata. ``method.diagnostics``
holds what the last ``unlearn`` measured about itself (plain numbers, e.g. Langevin's ``noise_flip_share``);
``experiment.unlearn_and_evaluate`` adds them to the run's metrics.
"""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from ..core.errors import UserError
from ..core.registry import Registry
from ..data import ForgetSplit, ImageDataset


class UnlearningMethod(ABC):
    name: ClassVar[str]
    paper: ClassVar[str]  # where the method and its defaults come from
    Settings: ClassVar[type]  # a dataclass of the method's own settings (a validation.Validated: checked when built)

    def __init__(self, **settings: Any):
        fields = {f.name for f in dataclasses.fields(self.Settings)}
        unknown = sorted(set(settings) - fields)
        if unknown:
            raise UserError(
                f"{self.name} has no setting {', '.join(unknown)}; its settings are: {', '.join(sorted(fields))}"
            )
        self.settings = self.Settings(**settings)
        self.diagnostics: dict[str, float] = {}  # filled by ``run``

    def unlearn(
        self,
        model: nn.Module,
        data: ImageDataset,
        split: ForgetSplit,
        *,
        device: torch.device,
        seed: int = 0,
        progress: bool = True,
    ) -> nn.Module:
        """Return an unlearned copy of ``model`` (the original is left untouched)."""
        if len(split.train_forget) == 0:
            raise UserError("the forget set is empty: nothing to unlearn")
        student = copy.deepcopy(model).to(device).requires_grad_(True)
        self.diagnostics = {}
        return self.run(student, model.to(device).eval(), data, split, device=device, seed=seed, progress=progress)

    @abstractmethod
    def run(
        self,
        model: nn.Module,
        original: nn.Module,
        data: ImageDataset,
        split: ForgetSplit,
        *,
        device: torch.device,
        seed: int,
        progress: bool,
    ) -> nn.Module:
        """Unlearn in place on ``model`` (a copy of ``original``, which must stay frozen) and return it."""

    def describe(self) -> dict:
        return {"method": self.name, **dataclasses.asdict(self.settings)}


METHODS: Registry[type[UnlearningMethod]] = Registry("method")


def register_method(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
    METHODS.register(cls.name)(cls)
    return cls


def create_method(name: str, **settings: Any) -> UnlearningMethod:
    return METHODS.get(name)(**settings)


def identity_settings(name: str, settings: dict) -> dict:
    """``settings`` (a full ``describe()``) without those at their neutral value, the value that runs exactly as if
    the setting did not exist (``Settings.NEUTRAL``): what keys a stored result, so results stored before a method
    gained a switch that is off by default keep their identity."""
    neutral = getattr(METHODS.get(name).Settings, "NEUTRAL", {})
    return {k: v for k, v in settings.items() if not (k in neutral and v == neutral[k])}
