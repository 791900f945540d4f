"""Forgetting analyses on digits (class 3): relearning steps, the linear probe, t-SNE pictures, --selective."""

from __future__ import annotations

import csv
import functools
import json

import pytest
import torch

import langevin_unlearning.experiments.compare as compare_module
from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.evaluation.analyses import analysis_names
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.evaluation.probe import probe_accuracy
from langevin_unlearning.evaluation.relearn import forget_accuracy, relearn_sample, relearn_steps
from langevin_unlearning.experiments.compare import compare
from langevin_unlearning.experiments.setup import load_setup
from langevin_unlearning.report.compare import people_rows


@pytest.fixture(scope="module")
def models(original_run, retrained_run):
    return original_run[1].eval(), retrained_run[1].eval()


def test_relearning_original_needs_no_steps_retrained_needs_many(models, digits, forget_split):
    original, retrained = models
    target = forget_accuracy(original, digits, forget_split, device="cpu")
    assert target > 0.9
    before = [p.detach().clone() for p in retrained.parameters()]
    n_original = relearn_steps(original, digits, forget_split, device="cpu", target=target)
    n_retrained = relearn_steps(retrained, digits, forget_split, device="cpu", target=target)
    assert n_original == 0
    assert (
        n_retrained >= 5 and n_retrained <= 200
    )  # the retrained model learns the class from 16 images, but not at once
    assert all(torch.equal(a, b) for a, b in zip(before, retrained.parameters()))  # a copy was fine-tuned
    # never reached within max_steps -> max_steps + 1; seeded: the same count twice
    assert relearn_steps(retrained, digits, forget_split, device="cpu", target=target, max_steps=2) == 3
    assert relearn_steps(retrained, digits, forget_split, device="cpu", target=target) == n_retrained


def test_relearn_sample_size(forget_split):
    n = len(forget_split.train_forget)
    assert len(relearn_sample(forget_split)) == 16  # 1% of 146 is below the floor of 16
    assert len(relearn_sample(forget_split, fraction=0.5)) == -(-n // 2)
    assert len(relearn_sample(forget_split, min_images=10_000)) == n
    assert torch.isin(relearn_sample(forget_split, seed=3), forget_split.train_forget).all()
    with pytest.raises(UserError, match="fraction"):
        relearn_sample(forget_split, fraction=0)


def test_probe_finds_the_class_in_the_original_not_the_retrained(models, digits, forget_split):
    original, retrained = models
    p_original = probe_accuracy(original, digits, forget_split, device="cpu")
    p_retrained = probe_accuracy(retrained, digits, forget_split, device="cpu")
    assert p_original >= 0.9
    assert p_retrained <= p_original - 0.2


def test_selective_scores_forget_and_remain_on_the_training_subsets(models, digits, forget_split):
    original, _ = models
    on_test = evaluate(original, digits, forget_split)
    on_train = evaluate(original, digits, forget_split, selective=True)
    assert on_train["forget_acc"] == on_train["train_forget_acc"] == on_test["train_forget_acc"]
    assert on_train["remain_acc"] == on_train["train_remain_acc"]
    assert on_test["forget_acc"] != on_test["train_forget_acc"] or on_test["remain_acc"] != on_test["train_remain_acc"]


def test_analysis_names():
    assert analysis_names("") == [] and analysis_names("all") == ["relearn", "probe"]
    with pytest.raises(UserError, match="unknown analysis 'nope'"):
        analysis_names("relearn,nope")


@pytest.mark.slow
def test_compare_and_evaluate_report_the_analyses(original_run, retrained_run, tmp_path, capsys, monkeypatch):
    setup = load_setup(original_run[0], "class:3", retrain=retrained_run[0])
    rows = compare(
        setup,
        ["boundary-shrink"],
        seeds=[0],
        progress=False,
        settings={"boundary-shrink": {"epochs": 1, "min_steps": 5}},
        analyses=["relearn", "probe"],
    )
    by = {r["method"]: r for r in rows}
    assert by["original"]["relearn_steps"] == 0 and by["retrain (target)"]["relearn_steps"] > 0
    assert by["original"]["probe_acc"] > by["retrain (target)"]["probe_acc"]
    assert 0 <= by["boundary-shrink"]["probe_acc"] <= 1 and by["boundary-shrink"]["relearn_steps"] >= 0
    assert {"relearn (steps)", "probe (%)"} <= set(people_rows(rows)[0])

    code = main(
        [
            "evaluate",
            "--model",
            str(original_run[0]),
            "--reference",
            str(retrained_run[0]),
            "--forget",
            "class:3",
            "--analyses",
            "relearn,probe",
            "--json",
            "--device",
            "cpu",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["analyses"][str(original_run[0])]["relearn_steps"] == 0
    assert out["analyses"]["retrain (reference)"]["relearn_steps"] == by["retrain (target)"]["relearn_steps"]
    # an unlearned/retrained model alone does not know the original's forget accuracy
    code = main(
        [
            "evaluate",
            "--model",
            str(retrained_run[0]),
            "--forget",
            "class:3",
            "--analyses",
            "relearn",
            "--device",
            "cpu",
        ]
    )
    assert code == 2 and "--original" in capsys.readouterr().err
    code = main(
        [
            "evaluate",
            "--model",
            str(retrained_run[0]),
            "--original",
            str(original_run[0]),
            "--forget",
            "class:3",
            "--analyses",
            "probe",
            "--selective",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "probe_acc" in out and "training subsets" in out

    # the command line threads --analyses through; the method runs with short settings
    monkeypatch.setattr(
        compare_module,
        "compare",
        functools.partial(compare, settings={"boundary-shrink": {"epochs": 1, "min_steps": 5}}),
    )
    code = main(
        [
            "compare",
            "--original",
            str(original_run[0]),
            "--retrain",
            str(retrained_run[0]),
            "--forget",
            "class:3",
            "--methods",
            "boundary-shrink",
            "--analyses",
            "relearn",
            "--name",
            "c",
            "--results-dir",
            str(tmp_path),
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert code == 0 and "relearn" in capsys.readouterr().out
    table = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert (
        float(table[0]["relearn_steps"]) == 0 and float(table[1]["relearn_steps"]) > 0 and "probe_acc" not in table[0]
    )


@pytest.mark.slow
def test_embed_writes_one_png(original_run, retrained_run, tmp_path, capsys):
    out = tmp_path / "e.png"
    code = main(
        [
            "embed",
            "--models",
            f"{original_run[0]},{retrained_run[0]}",
            "--forget",
            "class:3",
            "--out",
            str(out),
            "--n",
            "80",
            "--device",
            "cpu",
        ]
    )
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert (
        main(["embed", "--models", str(original_run[0]), "--forget", "class:3", "--out", str(tmp_path / "e.jpg")]) == 2
    )
