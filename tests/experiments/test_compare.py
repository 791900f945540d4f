"""`compare`: all methods from one original model, one table, retrain as target; failures stay in their row."""

import csv
import math

import pytest

from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.evaluation.closeness import gap
from langevin_unlearning.experiments.compare import compare, method_names
from langevin_unlearning.experiments.setup import load_setup
from langevin_unlearning.methods import METHODS

FAST = {"langevin": {"epochs": 1, "min_steps": 20}, "boundary-shrink": {"epochs": 1, "min_steps": 20}}


@pytest.fixture(scope="module")
def setup(original_run, retrained_run):
    return load_setup(original_run[0], "class:3", retrain=retrained_run[0])


def test_rows_gap_and_seeds(setup):
    rows = compare(setup, ["langevin", "boundary-shrink"], seeds=[0, 1], progress=False, settings=FAST)
    assert [r["method"] for r in rows] == ["original", "retrain (target)", "langevin", "boundary-shrink"]
    target = rows[1]
    assert target["gap"] == 0.0
    for r in rows[2:]:
        assert r["seeds"] == 2 and r["error"] == ""
        assert r["gap"] >= 0 and r["forget_acc"] < rows[0]["forget_acc"]
        assert not math.isnan(r["forget_acc_seed_std"])
        assert r["forget_acc_ci95_low"] <= r["forget_acc"] <= r["forget_acc_ci95_high"] and "within_noise" in r
        assert 0 <= r["mia_efficacy"] <= 1
    # the original model's gap is its distance to the retrained one
    assert rows[0]["gap"] == pytest.approx(gap(rows[0], target))


def test_a_failing_method_gets_its_error_and_the_others_still_run(setup):
    rows = compare(
        setup,
        ["langevin", "boundary-shrink"],
        seeds=[0],
        progress=False,
        settings={
            "langevin": {"lr": 1e30, "epochs": 1, "min_steps": 5},
            **{k: v for k, v in FAST.items() if k != "langevin"},
        },
    )
    by = {r["method"]: r for r in rows}
    assert "lower the learning rate" in by["langevin"]["error"] and math.isnan(by["langevin"]["forget_acc"])
    assert by["boundary-shrink"]["error"] == "" and not math.isnan(by["boundary-shrink"]["forget_acc"])


def test_method_names():
    assert method_names("all") == METHODS.names()
    assert method_names("langevin, finetune") == ["langevin", "finetune"]
    with pytest.raises(UserError, match="unknown method 'nope'"):
        method_names("langevin,nope")


def test_cli_writes_csv_and_markdown(original_run, retrained_run, tmp_path, capsys):
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
            "boundary-shrink,finetune",
            "--name",
            "cmp",
            "--results-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "retrain (target)" in out and "gap" in out
    rows = list(csv.DictReader(open(tmp_path / "cmp.csv")))
    assert [r["method"] for r in rows] == ["original", "retrain (target)", "boundary-shrink", "finetune"]
    md = (tmp_path / "cmp.md").read_text()
    assert "| boundary-shrink |" in md and "| finetune |" in md
    # a second comparison under the same name replaces the table instead of appending to it
    assert (
        main(
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
                "--name",
                "cmp",
                "--results-dir",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    assert [r["method"] for r in csv.DictReader(open(tmp_path / "cmp.csv"))] == [
        "original",
        "retrain (target)",
        "boundary-shrink",
    ]
    assert (
        main(
            [
                "compare",
                "--original",
                str(original_run[0]),
                "--retrain",
                str(retrained_run[0]),
                "--forget",
                "class:3",
                "--methods",
                "x",
                "--name",
                "c",
            ]
        )
        == 2
    )
