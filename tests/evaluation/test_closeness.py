"""SalUn's columns and Avg. Gap: the one closeness score (evaluation/closeness.py)."""

from __future__ import annotations

import pytest

from langevin_unlearning.evaluation.closeness import avg_gap, salun_columns


def row(train_forget, train_remain, remain, mia_efficacy):
    return {
        "train_forget_acc": train_forget,
        "train_remain_acc": train_remain,
        "remain_acc": remain,
        "mia_efficacy": mia_efficacy,
    }


RETRAIN = row(0.0, 0.95, 0.90, 1.0)
A = row(0.10, 0.93, 0.89, 0.80)  # UA 90, RA 93, TA 89, MIA 80
B = row(0.0, 0.97, 0.91, 1.0)  # UA 100, RA 97, TA 91, MIA 100


def test_the_columns_are_percent_with_ua_the_forget_error():
    assert salun_columns(A) == pytest.approx({"UA": 90.0, "RA": 93.0, "TA": 89.0, "MIA-Efficacy": 80.0})


def test_avg_gap_matches_a_hand_computation_and_is_zero_for_the_target():
    assert avg_gap(RETRAIN, RETRAIN) == 0.0
    assert avg_gap(A, RETRAIN) == pytest.approx((10 + 2 + 1 + 20) / 4)  # 8.25
    assert avg_gap(B, RETRAIN) == pytest.approx((0 + 2 + 1 + 0) / 4)  # 0.75: absolute values, no cancelling


def test_evaluate_with_the_references_logits_given_is_the_same_evaluation(
    original_run, retrained_run, digits, forget_split
):
    from langevin_unlearning.evaluation.metrics import evaluate, test_logits_of

    model, reference = original_run[1], retrained_run[1]
    plain = evaluate(model, digits, forget_split, reference=reference, seed=0)
    given = evaluate(model, digits, forget_split, reference_logits=test_logits_of(reference, digits, "cpu"), seed=0)
    assert plain == given
    assert 0 <= plain["mia"] <= 1 and plain["agreement_with_retrain"] > 0.5
