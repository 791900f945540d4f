"""Does choosing by the retrain-free score pick what audit F picks? Hand-made audit rows with known answers."""

from __future__ import annotations

import math

import pytest

from langevin_unlearning.report.sweep_summary import agreement_line, selection_agreement, spearman, summary_table


def audit(lr, f, dist, error=None):
    metrics = {"F": f, "forget_test_dist": dist, "forget_test_auc": 0.5 + dist, "lira_auc": 0.6, "remain_F": 0.4}
    return {"settings": {"lr": lr, "epochs": 1}, "n": 4, "metrics": metrics, "error": error}


def test_the_same_order_agrees_everywhere():
    rows = [audit(0.001, 0.1, 0.30), audit(0.01, 0.2, 0.20), audit(0.1, 0.5, 0.05)]
    a = selection_agreement(rows)
    assert a["same_choice"] and a["chosen_by_score"]["lr"] == a["chosen_by_F"]["lr"] == 0.1
    assert a["pairs"] == 3 and a["pair_agreement"] == 1.0 and a["spearman"] == pytest.approx(1.0)
    assert "both choose lr=0.1" in agreement_line(rows, ["lr"])


def test_a_disagreement_is_said_plainly():
    # F: 0.5 > 0.3 > 0.2 > 0.1; the score ranks lr=0.01 first, then 0.1, 0.003, 0.001
    rows = [audit(0.001, 0.1, 0.40), audit(0.003, 0.2, 0.30), audit(0.01, 0.3, 0.01), audit(0.1, 0.5, 0.02)]
    rows.append(audit(1.0, 0.9, 0.0, error="RuntimeError: diverged"))  # failed rows take no part
    a = selection_agreement(rows)
    assert a["points"] == 4 and not a["same_choice"]
    assert a["chosen_by_score"]["lr"] == 0.01 and a["chosen_by_F"]["lr"] == 0.1
    assert a["pairs"] == 6 and a["pair_agreement"] == pytest.approx(5 / 6)  # only (0.01, 0.1) is ordered wrongly
    assert a["spearman"] == pytest.approx(0.8)  # ranks (1,2,3,4) against (1,2,4,3): 1 - 6*2/(4*15)
    line = agreement_line(rows, ["lr"])
    assert "they disagree: the retrain-free score chooses lr=0.01, audit F chooses lr=0.1" in line
    assert "83% of 6 pairs" in line and "Spearman 0.80" in line


def test_ties_and_reversed_orders():
    rows = [audit(0.1, 0.5, 0.1), audit(0.2, 0.5, 0.3), audit(0.3, 0.1, 0.1)]
    a = selection_agreement(rows)
    # tied on F: both F-best points count as F's choice; pairs with equal F are not choices
    assert a["same_choice"] and a["pairs"] == 2
    assert a["pair_agreement"] == pytest.approx((0.5 + 0.0) / 2)  # (0.1 vs 0.3): score tie; (0.2 vs 0.3): reversed
    reversed_rows = [audit(0.1, 0.1, 0.0), audit(0.2, 0.2, 0.1), audit(0.3, 0.3, 0.2)]
    assert selection_agreement(reversed_rows)["spearman"] == pytest.approx(-1.0)
    assert "(the orders disagree)" in agreement_line(reversed_rows, ["lr"])
    assert selection_agreement(rows[:1]) is None and agreement_line([], ["lr"]) is None
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_the_summary_shows_audit_scores_beside_the_gap():
    rows = [audit(0.001, 0.123, 0.3), audit(0.1, 0.456, 0.05)]
    for r in rows:
        r["metrics"]["avg_gap"] = 12.5
    text = summary_table([], {"retrain (target)": {"avg_gap": 0.0}}, audits=rows)
    header = text.splitlines()[0]
    assert "F" in header.split() and "LiRA AUC" in header and "remain F" in header and "fgt/test AUC" in header
    assert "0.123" in text and "0.456" in text and "12.50" in text and "4 audit" in text
