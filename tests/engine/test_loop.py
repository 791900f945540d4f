"""The one loop (engine.loop.run_steps): per-check callback, early stop, and the optimizer factory."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.engine.loop import run_steps
from langevin_unlearning.engine.optim import DeviceSGD, make_optimizer


def regression(seed=0):
    """A linear model, its data, and a loss function that records every step it is called for."""
    torch.manual_seed(seed)
    model, x, y = nn.Linear(3, 1), torch.randn(16, 3), torch.randn(16, 1)
    losses: list[float] = []

    def loss_fn(t: int) -> torch.Tensor:
        loss = nn.functional.mse_loss(model(x), y)
        losses.append(loss.item())
        return loss

    return model, loss_fn, losses


def test_on_check_gets_the_mean_loss_of_each_checked_stretch():
    model, loss_fn, losses = regression()
    checks = []
    done = run_steps(
        model,
        loss_fn,
        10,
        make_optimizer(model.parameters(), "sgd", lr=0.1),
        progress=False,
        desc="t",
        check_every=4,
        on_check=lambda steps, loss: checks.append((steps, loss)),
    )
    assert done == 10 and len(losses) == 10
    assert [s for s, _ in checks] == [4, 8, 10]  # every check_every steps, and at the end
    expected = [sum(losses[0:4]) / 4, sum(losses[4:8]) / 4, sum(losses[8:10]) / 2]
    assert [loss for _, loss in checks] == pytest.approx(expected, rel=1e-6)
    assert losses[-1] < losses[0]  # the steps did update the model


def test_stop_ends_the_loop_after_that_step_and_checks_it():
    model, loss_fn, losses = regression()
    reference, ref_loss_fn, _ = regression()
    checks = []
    done = run_steps(
        model,
        loss_fn,
        50,
        make_optimizer(model.parameters(), "torch-sgd", lr=0.1),
        progress=False,
        desc="t",
        stop=lambda steps: steps == 3,
        on_check=lambda steps, loss: checks.append(steps),
    )
    run_steps(
        reference, ref_loss_fn, 3, make_optimizer(reference.parameters(), "torch-sgd", lr=0.1), progress=False, desc="t"
    )
    assert done == 3 and len(losses) == 3 and checks == [3]
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)  # exactly three updates, the third one included


def test_a_nan_before_an_early_stop_is_still_reported():
    model, loss_fn, _ = regression()

    def bad(t: int) -> torch.Tensor:
        loss = loss_fn(t)
        return loss * float("nan") if t == 1 else loss

    with pytest.raises(UserError, match=r"at where 2 step 2 \(checked steps 1-2\)"):
        run_steps(
            model,
            bad,
            50,
            make_optimizer(model.parameters(), "sgd", lr=0.1),
            progress=False,
            desc="t",
            where=lambda steps: f"where {steps}",
            stop=lambda steps: steps == 2,
        )


def test_make_optimizer_kinds():
    model = nn.Linear(3, 1)
    assert isinstance(make_optimizer(model.parameters(), "sgd", lr=0.1, momentum=0.9), DeviceSGD)
    assert type(make_optimizer(model.parameters(), "torch-sgd", lr=0.1)) is torch.optim.SGD
    assert type(make_optimizer(model.parameters(), "torch-adam", lr=0.1)) is torch.optim.Adam
    with pytest.raises(UserError, match="unknown optimizer 'lbfgs'; choose one of: sgd, adamw, torch-sgd, torch-adam"):
        make_optimizer(model.parameters(), "lbfgs", lr=0.1)
