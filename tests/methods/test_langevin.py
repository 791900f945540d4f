"""Langevin unlearning and Boundary Shrink on real digits data, fixed seeds."""

import dataclasses

import pytest
import torch

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.experiments.setup import Setup, unlearn_and_evaluate
from langevin_unlearning.methods import METHODS, create_method, search_ahead
from langevin_unlearning.methods.langevin import PRESETS
from langevin_unlearning.methods.search_ahead import new_targets

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def original_eval(original_run, digits, forget_split):
    return evaluate(original_run[1], digits, forget_split)


@pytest.fixture(scope="module")
def langevin_model(original_run, digits, forget_split):
    return create_method("langevin").unlearn(original_run[1], digits, forget_split, device=CPU, seed=0, progress=False)


def test_default_langevin_forgets_the_class_and_keeps_the_rest(langevin_model, original_eval, digits, forget_split):
    after = evaluate(langevin_model, digits, forget_split)
    assert original_eval["forget_acc"] > 0.90
    assert after["forget_acc"] < 0.20
    assert after["remain_acc"] >= original_eval["remain_acc"] - 0.10


def test_original_model_is_left_untouched(original_run, langevin_model):
    out, model, _, _ = original_run
    from langevin_unlearning.store.checkpoint import load_checkpoint

    saved, _ = load_checkpoint(out)
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), model.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), langevin_model.parameters()))


def test_boundary_shrink_is_langevin_with_gamma_and_lamda_zero(original_run, digits, forget_split):
    kw = dict(
        epochs=1, min_steps=5, steps=1, phi=0.5, lr=3e-3, bn="train"
    )  # the same loop: langevin's defaults differ from Boundary Shrink's
    a = create_method("boundary-shrink", **kw).unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=3, progress=False
    )
    b = create_method("langevin", gamma=0.0, lamda=0.0, **kw).unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=3, progress=False
    )
    c = create_method("langevin", gamma=1e-4, lamda=0.0, **kw).unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=3, progress=False
    )
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), c.state_dict().values()))


def test_same_seed_same_result_and_options_run(original_run, digits, forget_split):
    kw = dict(
        epochs=1,
        min_steps=3,
        steps=3,
        lamda=0.5,
        lamda_schedule="exponential",
        noise="cauchy",
        soft_labels=True,
        top_k=3,
        phi=0.5,
        bn="frozen",
        quantize=True,
    )
    a = create_method("langevin", **kw).unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=1, progress=False
    )
    b = create_method("langevin", **kw).unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=1, progress=False
    )
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_frozen_batchnorm_keeps_running_statistics(original_run, digits, forget_split):
    m = create_method("boundary-shrink", epochs=1, min_steps=3, bn="frozen").unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=0, progress=False
    )
    stats = [k for k in m.state_dict() if "running_mean" in k]
    assert stats and all(torch.equal(m.state_dict()[k], original_run[1].state_dict()[k]) for k in stats)


def test_soft_labels_top_k():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    p = new_targets(logits, soft=True, top_k=2)
    assert p[0, 2:].eq(0).all() and p.sum().item() == pytest.approx(1.0)
    assert p[0, 0] / p[0, 1] == pytest.approx(torch.e, rel=1e-5)
    assert new_targets(logits, soft=False, top_k=None).tolist() == [0]


def test_lamda_schedules():
    from langevin_unlearning.methods.langevin import LangevinSettings

    s = {
        k: LangevinSettings(lamda=2.0, lamda_schedule=k, steps=2) for k in ("none", "inverse", "exponential", "linear")
    }
    assert s["none"].lamda_at(9, 10) == 2.0
    assert s["inverse"].lamda_at(1, 10) == 1.0
    assert s["exponential"].lamda_at(2, 10) == pytest.approx(2.0 * 0.99**2)
    assert s["linear"].lamda_at(5, 10) == 1.0
    assert LangevinSettings(steps=1).step_size == 0.1 and LangevinSettings(steps=5).step_size == pytest.approx(0.05)


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("langevin", {"eps": -0.1}, "eps must be a positive"),
        ("langevin", {"noise": "poisson"}, "unknown noise law 'poisson'"),
        ("langevin", {"lamda_schedule": "cosine"}, "unknown lamda schedule"),
        ("langevin", {"bn": "eval"}, "unknown bn mode"),
        ("langevin", {"top_k": 2}, "add --soft-labels"),
        ("boundary-shrink", {"gamma": 1e-4}, "has no setting gamma"),
        ("sgd", {}, "unknown method 'sgd'"),
    ],
)
def test_bad_settings_are_one_line_errors(name, settings, message):
    with pytest.raises(UserError, match=message) as e:
        create_method(name, **settings)
    assert "\n" not in str(e.value)


def test_lamda_with_one_step_warns():
    with pytest.warns(UserWarning, match="lamda has no effect with steps=1"):
        create_method("langevin", lamda=1.0, steps=1)


def test_nan_loss_is_a_clear_error(original_run, digits, forget_split):
    with pytest.raises(UserError, match="lower the learning rate"):
        create_method("langevin", lr=1e30, epochs=1, min_steps=5).unlearn(
            original_run[1], digits, forget_split, device=CPU, seed=0, progress=False
        )


def test_registry_and_documented_defaults():
    assert {"langevin", "boundary-shrink"} <= set(METHODS.names())
    for name in ("langevin", "boundary-shrink"):
        cls = METHODS.get(name)
        assert cls.paper and dataclasses.is_dataclass(cls.Settings)


@pytest.mark.slow
def test_paper_preset_is_the_published_loop(original_run, digits, forget_split, monkeypatch):
    steps = []
    real = search_ahead.search_step

    def recording_step(f0, x, x0, y, **kw):  # every step of the search, run ahead of the updates
        x_next = real(f0, x, x0, y, **kw)
        steps.append((x0, x_next, kw))
        return x_next

    monkeypatch.setattr(search_ahead, "search_step", recording_step)
    method = create_method("langevin", **PRESETS["paper"])
    s = method.settings
    assert (s.lr, s.momentum, s.epochs, s.batch_size, s.eps, s.steps, s.step_size, s.bn) == (
        1e-5,
        0.9,
        10,
        64,
        0.1,
        1,
        0.1,
        "train",
    )
    assert not s.wrong_class_only and not s.soft_labels and s.phi == 0 and s.min_steps == 0
    method.unlearn(original_run[1], digits, forget_split, device=CPU, seed=0, progress=False)
    n = len(forget_split.train_forget)
    assert sum(len(x0) for x0, _, _ in steps) == 10 * n  # 10 passes, one step each (K = 1)
    assert method.diagnostics["search_images"] == 10 * n
    for x0, x_k, kw in steps:
        assert kw["eps"] == 0.1 and kw["alpha"] == 0.1 and kw["quantize"] and kw["mean_over"] == 64
        assert torch.equal(x_k * 255, (x_k * 255).round())  # on the 8-bit grid
        assert (x_k - x0).abs().max() <= 0.1 + 1e-6 and (x_k != x0).any()


def test_paper_preset_draws_a_remain_batch_each_step_even_with_phi_zero(original_run, digits, forget_split):
    """With BatchNorm in train mode the remain batch's forward pass moves the running statistics."""

    def running_mean(**kw):
        m = create_method("langevin", **{**PRESETS["paper"], "epochs": 1, **kw}).unlearn(
            original_run[1], digits, forget_split, device=CPU, seed=0, progress=False
        )
        return torch.cat([v.flatten() for k, v in m.state_dict().items() if k.endswith("running_mean")])

    with_remain, without = running_mean(), running_mean(remain_each_step=False)
    assert not torch.allclose(with_remain, without)


@pytest.fixture(scope="module")
def setup(original_run, retrained_run, digits, forget_split):
    return Setup(digits, forget_split, original_run[1], original_run[2], retrained_run[1], retrained_run[2], CPU)


@pytest.mark.slow
def test_diagnostics_land_in_the_metrics_row(setup):
    kw = dict(epochs=1, min_steps=3)
    _, noisy = unlearn_and_evaluate(setup, create_method("langevin", gamma=1e-3, **kw), seed=0, progress=False)
    _, shrink = unlearn_and_evaluate(setup, create_method("boundary-shrink", **kw), seed=0, progress=False)
    assert 0.05 < noisy["noise_flip_share"] < 0.5 and shrink["noise_flip_share"] == 0.0
    assert 0 <= noisy["crossed_share"] <= 1 and 0 < shrink["crossed_share"] <= 1
    assert create_method("finetune").diagnostics == {}  # a method without a search reports nothing
