"""Sub-class requests (the remain data still holds the forget images' class) and weight-space Langevin noise."""

from __future__ import annotations

import copy
from dataclasses import asdict

import pytest
import torch

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import parse_forget
from langevin_unlearning.engine.optim import NoisyProjected, make_optimizer
from langevin_unlearning.engine.predict import accuracy, logit_confidence, predict_logits
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.experiments.training import train_run
from langevin_unlearning.methods import create_method
from langevin_unlearning.methods.kept_class import HeldOutConfidence, calibrated_targets, kept_class_mask, nearest_rank
from langevin_unlearning.methods.langevin import LangevinSettings, langevin_unlearning
from tests.conftest import SMALL, SMALL_TRAIN

SUB = "class:3:0.3"
SHORT = dict(min_steps=40, epochs=1)  # enough updates to move the model, few enough for the fast tier


def unlearn(original, data, split, seed=0, **settings):
    model = copy.deepcopy(original)
    method = create_method("langevin", **{**SHORT, **settings})
    model = method.run(model, original, data, split, device=torch.device("cpu"), seed=seed, progress=False)
    return model, method.diagnostics


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def sub_split(digits):
    return parse_forget(SUB, digits, seed=0)


@pytest.fixture(scope="module")
def sub_retrained(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("runs") / "retrained-sub"
    model, *_ = train_run(
        **SMALL, cfg=SMALL_TRAIN, out=out, forget=SUB, exclude_forget=True, seed=0, progress=False, data=digits
    )
    return model


def test_the_split_says_which_forget_images_keep_their_class(digits, forget_split, sub_split):
    assert not kept_class_mask(digits, forget_split).any()  # class:3: no image of class 3 remains
    assert kept_class_mask(digits, sub_split).all()  # class:3:0.3: 70% of class 3 remains


def test_a_whole_class_request_is_bit_identical_with_either_target_rule(original_run, digits, forget_split):
    _, f0, _, _ = original_run
    calibrated, diag = unlearn(f0, digits, forget_split)
    search, _ = unlearn(f0, digits, forget_split, kept_class_targets="search")
    assert torch.equal(weights(calibrated), weights(search))
    assert diag["kept_class_share"] == 0.0 and "kept_class_target_conf" not in diag


def test_a_sub_class_request_keeps_the_class_as_the_retrained_model_does(
    original_run, sub_retrained, digits, sub_split
):
    _, f0, _, _ = original_run
    test_k = (digits.test.labels == 3).nonzero().flatten()

    def class_acc(m):
        return accuracy(m, digits.test.images, digits.test.labels, test_k)

    def mia(m):
        return evaluate(m, digits, sub_split, seed=0)["mia"]

    calibrated, diag = unlearn(f0, digits, sub_split)
    search, _ = unlearn(f0, digits, sub_split, kept_class_targets="search")
    target = class_acc(sub_retrained)
    assert diag["kept_class_share"] == 1.0 and 0.5 < diag["kept_class_target_conf"] <= 1.0
    assert abs(class_acc(calibrated) - target) <= 0.1
    assert abs(class_acc(search) - target) > 0.3  # what the search alone does: the class leaves
    assert abs(mia(calibrated) - mia(sub_retrained)) < abs(mia(search) - mia(sub_retrained))


def test_calibrated_targets_take_held_out_quantiles_by_rank(original_run, digits):
    _, f0, _, _ = original_run
    held_out = HeldOutConfidence(f0, digits, torch.tensor([3]), torch.device("cpu"))
    table = held_out.sorted[3]
    assert torch.all(table[1:] >= table[:-1])
    # four images of class 3: the one with the lowest true-class logit gets the lowest held-out confidence
    logits = torch.tensor([[0.0, 0, 0, 5, 1], [0, 0, 0, 1, 2], [0, 0, 0, 9, 0], [0, 0, 0, 3, 0]])
    y = torch.full((4,), 3)
    at_x0 = torch.tensor([[0.0, 0, 0, 5, 2], [0, 3, 0, 5, 0], [0, 0, 0, 5, 0], [0, 0, 0, 5, 0]])
    out = calibrated_targets(torch.tensor([4, 4, 0, 0]), logits, at_x0, y, torch.ones(4, dtype=torch.bool), held_out)
    assert torch.allclose(out.sum(1), torch.ones(4))
    true_mass = out[:, 3]
    assert true_mass[1] == true_mass.min() and true_mass[2] == true_mass.max()
    assert true_mass[1] == nearest_rank(table, torch.tensor(0.125)) and true_mass.min() >= table[0]
    # the rest goes to the wrong classes in f0's proportions at x0: image 0 to class 4, image 1 to class 1
    assert out[0, 4] > out[0, 0] and out[1, 1] > out[1, 4]
    # not kept: the search's label, one-hot
    out = calibrated_targets(torch.tensor([4, 4, 0, 0]), logits, at_x0, y, torch.zeros(4, dtype=torch.bool), held_out)
    assert torch.equal(out.argmax(1), torch.tensor([4, 4, 0, 0])) and torch.equal(out.sum(1), torch.ones(4))


def test_weight_noise_is_seeded_and_widens_the_spread_across_seeds(original_run, digits, sub_split):
    _, f0, _, _ = original_run
    idx = sub_split.train_forget

    def spread(**settings):
        confs = []
        for seed in range(3):
            m, _ = unlearn(f0, digits, sub_split, seed=seed, **settings)
            confs.append(logit_confidence(predict_logits(m, digits.train.images, idx), digits.train.labels[idx]))
        return torch.stack(confs).std(0).mean()

    a, _ = unlearn(f0, digits, sub_split, seed=0, sigma=3e-3)
    b, _ = unlearn(f0, digits, sub_split, seed=0, sigma=3e-3)
    c, _ = unlearn(f0, digits, sub_split, seed=1, sigma=3e-3)
    quiet, _ = unlearn(f0, digits, sub_split, seed=0)
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(c))
    assert not torch.allclose(weights(a), weights(quiet))
    assert spread(sigma=3e-3) > 2 * spread()


def test_noisy_projected_steps_clip_and_stay_in_the_ball():
    torch.manual_seed(0)
    model = torch.nn.Linear(20, 5)
    start = weights(model).clone()
    opt = NoisyProjected(
        make_optimizer(model.parameters(), "sgd", lr=1.0),
        model.parameters(),
        sigma=0.1,
        clip=0.5,
        radius=0.3,
        generator=torch.Generator().manual_seed(0),
    )
    for _ in range(20):
        opt.zero_grad()
        (model(torch.randn(8, 20)) * 100).sum().backward()
        opt.step()
        assert torch.linalg.vector_norm(weights(model) - start) <= 0.3 + 1e-5
        grad_norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
        assert grad_norm <= 0.5 + 1e-4
    assert torch.linalg.vector_norm(weights(model) - start) > 0.29  # the noise and steps reach the boundary


def test_the_noisy_remain_stage_runs_on_remain_data(original_run, digits, sub_split):
    _, f0, _, _ = original_run
    plain, _ = unlearn(f0, digits, sub_split, sigma=1e-3)
    staged, _ = unlearn(f0, digits, sub_split, sigma=1e-3, remain_steps=20)
    assert not torch.equal(weights(plain), weights(staged))
    assert evaluate(staged, digits, sub_split, seed=0)["remain_acc"] > 0.9


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(sigma=-1.0), "sigma must be"),
        (dict(sigma=float("nan")), "sigma must be a finite number"),
        (dict(sigma=float("inf")), "sigma must be a finite number"),
        (dict(radius=0.0), "radius must be"),
        (dict(clip=0.0), "clip must be"),
        (dict(remain_steps=-1), "remain_steps must be"),
        (dict(kept_class_targets="nearest"), "kept-class target"),
    ],
)
def test_bad_weight_noise_settings_are_one_line_errors(settings, message):
    with pytest.raises(UserError, match=message) as e:
        LangevinSettings(**settings)
    assert "\n" not in str(e.value)


def test_boundary_shrink_and_the_paper_preset_push_every_image_out(original_run, digits, sub_split):
    from langevin_unlearning.methods.langevin import PRESETS

    assert PRESETS["paper"]["kept_class_targets"] == "search"
    _, f0, _, _ = original_run
    bs = create_method("boundary-shrink", **SHORT)
    shrunk = bs.run(copy.deepcopy(f0), f0, digits, sub_split, device=torch.device("cpu"), seed=0, progress=False)
    s = LangevinSettings(**asdict(bs.settings), gamma=0.0, lamda=0.0, kept_class_targets="search")
    same = langevin_unlearning(
        copy.deepcopy(f0), f0, digits, sub_split, s, device=torch.device("cpu"), seed=0, progress=False
    )
    assert torch.equal(weights(shrunk), weights(same))
