"""Suppressing a forgotten class to a retrain-free confidence level per image (``suppress``, methods/suppress.py)."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.engine.predict import logit_confidence, predict_logits
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.methods import create_method, identity_settings
from langevin_unlearning.methods.langevin import LangevinSettings
from langevin_unlearning.methods.suppress import refit_forgotten_rows, suppression_levels, suppression_loss
from tests.methods.test_kept_class import sub_split, unlearn, weights  # noqa: F401 (sub_split is a fixture)

CPU = torch.device("cpu")


def forget_confidence(model, data, split):
    idx = split.train_forget
    return logit_confidence(predict_logits(model, data.train.images, idx), data.train.labels[idx]).mean().item()


def test_levels_are_a_fresh_heads_confidence_near_a_retrained_models(original_run, retrained_run, digits, forget_split):
    _, f0, _, _ = original_run
    _, retrained, _, _ = retrained_run
    whole = torch.ones(len(forget_split.train_forget), dtype=torch.bool)
    # as many head updates as the retrained model made (10 epochs of 21 batches)
    levels = suppression_levels(f0, digits, forget_split, whole, CPU, head_updates=210, seed=0)
    forget = forget_split.train_forget
    outside = torch.ones(len(levels), dtype=torch.bool)
    outside[forget] = False
    assert torch.isinf(levels[outside]).all() and torch.isfinite(levels[forget]).all()
    y = digits.train.labels[forget]
    at_x0 = logit_confidence(predict_logits(f0, digits.train.images, forget), y)
    assert levels[forget].mean() < at_x0.mean() - 5  # far below f0's own: the class is to be suppressed
    # and near where a model retrained without the class puts them
    truth = logit_confidence(predict_logits(retrained, digits.train.images, forget), y)
    assert abs(levels[forget].mean() - truth.mean()) < 1.0
    # an output only ever pushed down falls further with more updates; the head is seeded by the run
    longer = suppression_levels(f0, digits, forget_split, whole, CPU, head_updates=840, seed=0)
    assert longer[forget].mean() < levels[forget].mean() - 0.3
    again = suppression_levels(f0, digits, forget_split, whole, CPU, head_updates=210, seed=0)
    other = suppression_levels(f0, digits, forget_split, whole, CPU, head_updates=210, seed=1)
    assert torch.equal(again, levels) and not torch.equal(other, levels)


def test_a_given_level_is_every_forget_images_level(original_run, digits, forget_split):
    _, f0, _, _ = original_run
    whole = torch.ones(len(forget_split.train_forget), dtype=torch.bool)
    levels = suppression_levels(f0, digits, forget_split, whole, CPU, level=-12.5, head_updates=1, seed=0)
    assert torch.all(levels[forget_split.train_forget] == -12.5) and torch.isinf(levels).sum() == len(levels) - len(
        whole
    )


def test_the_pull_lowers_only_the_forgotten_logit_and_skips_rows_without_a_level():
    logits = torch.tensor([[4.0, 1.0, 0.0], [3.0, 0.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 0])
    loss = suppression_loss(logits, labels, torch.tensor([-2.0, float("inf")]))
    loss.backward()
    assert loss.item() > 0
    assert logits.grad[0, 0] > 0 and torch.all(logits.grad[0, 1:] == 0)  # only the true-class logit is pushed
    assert torch.all(logits.grad[1] == 0)  # a row at +inf adds nothing
    at_level = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)  # s_0 = -log 2
    suppression_loss(at_level, torch.tensor([0]), torch.tensor([-torch.log(torch.tensor(2.0)).item()])).backward()
    assert torch.allclose(at_level.grad, torch.zeros(1, 3), atol=1e-6)  # at its level the pull stops
    far = torch.tensor([[40.0, 0.0, 0.0]], requires_grad=True)
    suppression_loss(far, torch.tensor([0]), torch.tensor([-2.0])).backward()
    assert far.grad[0, 0].item() == pytest.approx(1.0)  # however far, one step's push is bounded


def test_suppression_moves_a_whole_class_toward_its_level(original_run, digits, forget_split):
    _, f0, _, _ = original_run
    plain, plain_diag = unlearn(f0, digits, forget_split)
    pulled, diag = unlearn(f0, digits, forget_split, suppress=0.3)
    assert "suppress_level" not in plain_diag
    level = diag["suppress_level"]
    before, after = forget_confidence(plain, digits, forget_split), forget_confidence(pulled, digits, forget_split)
    assert after < before - 0.5 and abs(after - level) < abs(before - level)
    assert after > level - 2  # aimed at the level, not past it
    assert evaluate(pulled, digits, forget_split, seed=0)["remain_acc"] > 0.85


def test_zero_and_sub_class_requests_run_exactly_as_without_it(original_run, digits, forget_split, sub_split):  # noqa: F811
    _, f0, _, _ = original_run
    assert torch.equal(
        weights(unlearn(f0, digits, forget_split)[0]), weights(unlearn(f0, digits, forget_split, suppress=0.0)[0])
    )
    # class:3:0.3 leaves class 3 in the remain data: no image gets a level, the run is the calibrated one
    kept, diag = unlearn(f0, digits, sub_split, suppress=1.0)
    assert torch.equal(weights(kept), weights(unlearn(f0, digits, sub_split)[0]))
    assert "suppress_level" not in diag


def test_refit_rows_redraw_only_the_forgotten_classs_row(original_run, digits, forget_split):
    _, f0, _, _ = original_run
    plain, _ = unlearn(f0, digits, forget_split)
    refit, diag = unlearn(f0, digits, forget_split, refit_rows=210)
    k = int(digits.train.labels[forget_split.train_forget][0])
    others = torch.arange(digits.num_classes) != k
    # the body and every other row are the plain run's; the forgotten row is new
    assert torch.equal(weights(refit.body), weights(plain.body))
    assert torch.equal(refit.classifier.weight[others], plain.classifier.weight[others])
    assert torch.equal(refit.classifier.bias[others], plain.classifier.bias[others])
    assert not torch.equal(refit.classifier.weight[k], plain.classifier.weight[k])
    assert diag["refit_rows_classes"] == 1
    plain_eval, refit_eval = (evaluate(m, digits, forget_split, seed=0) for m in (plain, refit))
    assert refit_eval["forget_acc"] == 0.0 and refit_eval["remain_acc"] >= plain_eval["remain_acc"] - 0.01


def test_a_refitted_row_falls_as_a_retrained_models_does(original_run, retrained_run, digits, forget_split):
    _, f0, _, _ = original_run
    _, retrained, _, _ = retrained_run
    plain, _ = unlearn(f0, digits, forget_split)
    k = torch.tensor([int(digits.train.labels[forget_split.train_forget][0])])

    def refit(updates, seed=0):
        model = copy.deepcopy(plain)
        refit_forgotten_rows(model, digits, forget_split, k, updates=updates, seed=seed, device=CPU)
        return model

    short, long = (
        forget_confidence(refit(10), digits, forget_split),
        forget_confidence(refit(840), digits, forget_split),
    )
    # a row only ever pushed down from a fresh start: lower with more updates, towards the retrained model's
    truth, own = forget_confidence(retrained, digits, forget_split), forget_confidence(f0, digits, forget_split)
    assert long < short - 0.5
    assert abs(long - truth) < abs(short - truth) and abs(long - truth) < abs(own - truth) / 5
    # the fresh row is seeded by the run and starts from nothing the unlearning left in it
    assert torch.equal(weights(refit(210)), weights(refit(210)))
    assert not torch.equal(weights(refit(210, seed=1)), weights(refit(210)))
    moved = copy.deepcopy(plain)
    moved.classifier.weight.data[k] += 1.0
    refit_forgotten_rows(moved, digits, forget_split, k, updates=210, seed=0, device=CPU)
    assert torch.equal(weights(moved), weights(refit(210)))


def test_refit_rows_leave_sub_class_requests_alone(original_run, digits, sub_split):  # noqa: F811
    _, f0, _, _ = original_run
    kept, diag = unlearn(f0, digits, sub_split, refit_rows=50)
    assert torch.equal(weights(kept), weights(unlearn(f0, digits, sub_split)[0]))
    assert "refit_rows_classes" not in diag


def test_refit_rows_need_a_linear_head_and_remain_data(original_run, digits, forget_split):
    _, f0, _, _ = original_run
    headless = copy.deepcopy(f0)
    headless.classifier = torch.nn.Sequential(headless.classifier)
    with pytest.raises(UserError, match="refit_rows needs a model whose classifier is one nn.Linear") as e:
        unlearn(headless, digits, forget_split, refit_rows=10)
    assert "\n" not in str(e.value)
    everything = dataclasses.replace(forget_split, train_remain=forget_split.train_remain[:0])
    with pytest.raises(UserError, match="remain set is empty; use refit_rows 0"):
        unlearn(f0, digits, everything, refit_rows=10, phi=0.0)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(suppress=-0.1), "suppress must be"),
        (dict(suppress=float("nan")), "suppress must be"),
        (dict(suppress=float("inf")), "suppress must be"),
        (dict(suppress=1.0, suppress_level=float("nan")), "suppress_level must be a finite number"),
        (dict(refit_rows=-1), "refit_rows must be"),
    ],
)
def test_bad_suppress_settings_are_one_line_errors(settings, message):
    with pytest.raises(UserError, match=message) as e:
        LangevinSettings(**settings)
    assert "\n" not in str(e.value)


def test_a_level_without_a_weight_warns():
    with pytest.warns(UserWarning, match="suppress_level has no effect with suppress 0"):
        LangevinSettings(suppress_level=-12.0)


def test_the_off_values_leave_a_stored_results_identity_as_it_was():
    def identity(**settings):
        full = {k: v for k, v in create_method("langevin", **settings).describe().items() if k != "method"}
        return identity_settings("langevin", full)

    off = identity()
    assert "suppress" not in off and "suppress_level" not in off and "refit_rows" not in off
    assert off["sigma"] == 0.0  # other settings all stay
    on = identity(suppress=0.3, suppress_level=-12.0)
    assert on["suppress"] == 0.3 and on["suppress_level"] == -12.0
