"""Per-example epsilon, bucketed score and audit statistics on synthetic confidences where the answer is known."""

import math

import numpy as np
import pytest
import torch

from langevin_unlearning.engine.predict import logit_confidence
from langevin_unlearning.evaluation.audit import (
    audit_scores,
    bootstrap,
    difference_interval,
    lira,
    t_interval,
    tpr_at_fpr,
    within_noise,
)
from langevin_unlearning.evaluation.epsilon import (
    bucket_score,
    final_score,
    forgetting_quality,
    per_example_epsilon,
)


def normal(shape, seed, shift=0.0):
    return np.random.default_rng(seed).normal(size=shape) + shift


def test_logit_confidence_is_stable_and_exact():
    logits = torch.tensor([[2.0, 0.0, -1.0], [1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    labels = torch.tensor([0, 0, 0])
    p = torch.softmax(logits[:1].double(), 1)[0, 0]
    conf = logit_confidence(logits, labels)
    assert conf[0].item() == pytest.approx((p.log() - (1 - p).log()).item(), rel=1e-9)
    assert conf[1].item() == pytest.approx(1000.0) and conf[2].item() == pytest.approx(-2000.0)
    assert torch.isfinite(conf).all()


@pytest.mark.parametrize("n", [8, 32])
def test_identical_distributions_give_epsilon_near_zero(n):
    eps = per_example_epsilon(normal((300, n), 0), normal((300, n), 1))["epsilon"]
    assert np.median(eps) < 0.3 and forgetting_quality(eps) > 0.75


def test_the_plugin_estimate_is_biased_upward_on_identical_distributions():
    u, r = normal((300, 32), 0), normal((300, 32), 1)
    plugin = per_example_epsilon(u, r, estimator="plugin")["epsilon"]
    crossfit = per_example_epsilon(u, r)["epsilon"]
    assert np.median(plugin) > 1.0 > np.median(crossfit)


@pytest.mark.parametrize("estimator", ["crossfit", "plugin"])
def test_separated_distributions_are_capped(estimator):
    eps = per_example_epsilon(normal((50, 8), 0, shift=20), normal((50, 8), 1), estimator=estimator, cap=7.0)
    assert (eps["epsilon"] == 7.0).all() and (eps["single"] == 7.0).all()
    assert forgetting_quality(eps["epsilon"]) == pytest.approx(2.0 / 2**15)


def test_a_narrower_spread_is_found_only_by_double_thresholds():
    # unlearned outputs sit in the middle of the retrained ones: no single threshold separates them, an interval does
    u = np.tile(np.linspace(-0.1, 0.1, 16), (20, 1))
    r = np.tile(np.r_[np.linspace(-5, -3, 8), np.linspace(3, 5, 8)], (20, 1))
    eps = per_example_epsilon(u, r)
    assert (eps["double"] == 10.0).all() and (
        eps["single"] < 2.0
    ).all()  # one threshold halves the retrained: about log 2


def test_epsilon_grows_with_the_shift():
    medians = [
        np.median(per_example_epsilon(normal((200, 16), 0, shift=s), normal((200, 16), 1))["epsilon"])
        for s in (0.0, 1.0, 3.0)
    ]
    assert medians[0] < medians[1] < medians[2]


def test_bucket_score_and_final_score():
    assert bucket_score(np.array([0.0, 0.49, 0.5, 1.2, 10.0])).tolist() == [1.0, 1.0, 0.5, 0.25, 2.0 / 2**21]
    assert final_score(0.5, 0.9, 1.0, 0.8, 1.0) == pytest.approx(0.36)


def test_lira_auc_half_for_identical_and_one_for_separated():
    same = lira(normal((200, 16), 0), normal((200, 16), 1))
    apart = lira(normal((200, 16), 0, shift=10), normal((200, 16), 1))
    assert abs(np.mean(same["auc"]) - 0.5) < 0.1 and same["pooled_tpr_at_fpr"] < 0.1
    assert np.mean(apart["auc"]) == 1.0 and apart["pooled_tpr_at_fpr"] == 1.0


def test_tpr_at_fpr():
    neg = np.arange(100.0)
    assert tpr_at_fpr(np.array([97.5, 98.5, 200.0]), neg, 0.01) == pytest.approx(
        2 / 3
    )  # threshold 98: one negative (99) above it


def test_audit_scores_worst_decile_and_bootstrap():
    u = np.concatenate([normal((90, 8), 0), normal((10, 8), 2, shift=30)])  # 10 exposed examples among 100
    r = normal((100, 8), 1)
    s = audit_scores(u, r)
    assert s["share_capped"] == pytest.approx(0.1) and s["epsilon"]["worst_decile_mean"] == 10.0
    assert s["F_worst_decile"] < 1e-5 < s["F"]

    def stat(ui, ri):
        return {"F": forgetting_quality(per_example_epsilon(u[:, ui], r[:, ri])["epsilon"])}

    lo, hi = bootstrap(stat, 8, 8, rounds=30)["F"]
    assert 0 < lo <= s["F"] <= hi < 1


def test_the_bootstrap_interval_holds_the_estimate_of_a_statistic_resampling_biases():
    """The share of distinct models is 1 on all models and about 0.6 on any resample (repeats): plain percentiles
    would give an interval far below the estimate; the interval must hold it and stay within [0, 1]."""

    def distinct(ui, ri):
        return {"share": (len(set(ui)) + len(set(ri))) / (len(ui) + len(ri)), "count": float(len(set(ui)))}

    intervals = bootstrap(distinct, 16, 16, rounds=200, seed=1)
    lo, hi = intervals["share"]
    assert lo < 1.0 <= hi <= 1.0 and hi - lo > 0.05
    lo, hi = intervals["count"]  # not a share: not clipped
    assert lo <= 16 <= hi and hi > 16


def test_intervals_and_noise():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo < 2.0 < hi and math.isnan(t_interval([1.0])[1])
    assert within_noise([1.0, 1.1, 0.9, 1.05], [1.02, 0.98, 1.0]) is True
    assert within_noise([5.0, 5.1, 4.9], [1.0, 1.1, 0.9]) is False
    assert within_noise([1.0], [1.0]) is None
    diff, lo, hi = difference_interval([2.0, 2.2, 1.8], [1.0])
    assert diff == pytest.approx(1.0) and lo < 1.0 < hi
