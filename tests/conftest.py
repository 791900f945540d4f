"""Shared fixtures: the digits data and two small trained models, built once per test session."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(2)

from langevin_unlearning.data import DataOptions, load_dataset, parse_forget  # noqa: E402
from langevin_unlearning.engine.train import TrainConfig  # noqa: E402
from langevin_unlearning.experiments.training import train_run  # noqa: E402

FORGET = "class:3"
SMALL = dict(dataset="digits", model="allcnn", width=0.25)
SMALL_TRAIN = TrainConfig(epochs=10, lr=0.05, batch_size=64)


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits", DataOptions())


@pytest.fixture(scope="session")
def forget_split(digits):
    return parse_forget(FORGET, digits, seed=0)


@pytest.fixture(scope="session")
def original_run(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("runs") / "original"
    model, meta, result = train_run(
        **SMALL, cfg=SMALL_TRAIN, out=out, forget=FORGET, seed=0, progress=False, data=digits
    )
    return out, model, meta, result


@pytest.fixture(scope="session")
def retrained_run(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("runs") / "retrained"
    model, meta, result = train_run(
        **SMALL, cfg=SMALL_TRAIN, out=out, forget=FORGET, exclude_forget=True, seed=0, progress=False, data=digits
    )
    return out, model, meta, result
