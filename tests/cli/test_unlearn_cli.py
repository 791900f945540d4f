"""`langevin-unlearn unlearn / evaluate` and `main.py --do_unlearning` on saved digits runs."""

import csv
import json

import pytest

from langevin_unlearning.cli import main
from langevin_unlearning.cli.legacy import main as legacy_main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.store.checkpoint import load_checkpoint, read_meta


def test_unlearn_writes_model_metrics_csv_and_table(original_run, retrained_run, tmp_path, capsys):
    argv = [
        "unlearn",
        "--original",
        str(original_run[0]),
        "--retrain",
        str(retrained_run[0]),
        "--forget",
        "class:3",
        "--method",
        "langevin",
        "--epochs",
        "1",
        "--min-steps",
        "10",
        "--name",
        "t1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--results-dir",
        str(tmp_path / "results"),
        "--no-progress",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "retrain (target)" in out and "original" in out and "langevin" in out and "speedup" in out
    run = tmp_path / "runs" / "t1"
    model, meta = load_checkpoint(run)
    assert meta.kind == "unlearned" and meta.unlearning["method"] == "langevin" and meta.unlearning["gamma"] == 1e-2
    metrics = json.loads((run / "metrics.json").read_text())
    assert {
        "forget_acc",
        "remain_acc",
        "mia",
        "mia_std",
        "agreement_with_retrain",
        "js_to_retrain_forget",
        "unlearn_seconds",
        "speedup",
    } <= set(metrics)
    assert metrics["speedup"] == pytest.approx(metrics["retrain_seconds"] / metrics["unlearn_seconds"], rel=1e-3)
    # a second configuration appends to the same CSV
    assert (
        main(
            argv[:-7]
            + [
                "--use-sota",
                "--name",
                "t1",
                "--runs-dir",
                str(tmp_path / "runs2"),
                "--results-dir",
                str(tmp_path / "results"),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(tmp_path / "results" / "t1.csv")))
    assert [r["method"] for r in rows] == ["langevin", "boundary-shrink"]


def test_sgld_runs_both_temperatures(original_run, retrained_run, tmp_path, capsys):
    argv = [
        "unlearn",
        "--original",
        str(original_run[0]),
        "--retrain",
        str(retrained_run[0]),
        "--forget",
        "class:3",
        "--sgld",
        "--epochs",
        "1",
        "--min-steps",
        "5",
        "--name",
        "s",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--results-dir",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [float(r["gamma"]) for r in rows] == [0.0, 1e-4]
    assert {p.name for p in (tmp_path / "runs" / "s").iterdir()} == {"langevin_gamma=0", "langevin_gamma=0.0001"}


def test_evaluate_json(retrained_run, original_run, capsys):
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(original_run[0]),
                "--forget",
                "class:3",
                "--reference",
                str(retrained_run[0]),
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["forget_acc"] > 0.9 and 0 <= data["agreement_with_retrain"] <= 1 and len(data["per_class_acc"]) == 10


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--eps", "-0.1"], "eps must be a positive"),
        (["--noise", "poisson"], "unknown noise law"),
        (["--forget", "class:4"], "left out 'class:3', but --forget is 'class:4'"),
        (["--forget", "class:12"], "out of range"),
        (["--method", "boundary-shrink", "--gamma", "0.1"], "boundary-shrink has no gamma"),
    ],
)
def test_bad_input(original_run, retrained_run, tmp_path, capsys, extra, message):
    argv = [
        "unlearn",
        "--original",
        str(original_run[0]),
        "--retrain",
        str(retrained_run[0]),
        "--forget",
        "class:3",
        "--name",
        "bad",
        "--runs-dir",
        str(tmp_path),
        "--results-dir",
        str(tmp_path),
        "--no-progress",
        *extra,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_models_of_different_datasets_are_refused(original_run, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for f in ("model.safetensors", "model.json"):
        (other / f).write_bytes((original_run[0] / f).read_bytes())
    meta = json.loads((other / "model.json").read_text())
    meta["dataset"] = "fashionmnist"
    (other / "model.json").write_text(json.dumps(meta))
    assert (
        main(
            [
                "unlearn",
                "--original",
                str(original_run[0]),
                "--retrain",
                str(other),
                "--forget",
                "class:3",
                "--name",
                "x",
                "--runs-dir",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "dataset digits vs fashionmnist" in capsys.readouterr().err


def test_original_readme_unlearning_command(original_run, retrained_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [
        "--forget_class",
        "3",
        "--data_name",
        "digits",
        "--model_name",
        "AllCNN",
        "--lr",
        "0.01",
        "--epoch",
        "15",
        "--batch_size",
        "64",
        "--gpu_id",
        "0",
        "--sgld",
        "--do_unlearning",
        "--name",
        "paper",
        "--original_model",
        str(original_run[0]),
        "--retrain_model",
        str(retrained_run[0]),
        "--remain_reg",
        "0.0001",
        "--lamda",
        "0",
        "--no_progress",
    ]
    assert legacy_main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "paper.csv")))
    assert len(rows) == 2 and rows[0]["lr"] == "1e-05" and rows[0]["phi"] == "0.0001"
    assert all(
        r["quantize"] == "True" and r["remain_each_step"] == "True" and r["wrong_class_only"] == "False" for r in rows
    )  # --preset paper
    assert (
        float(rows[0]["noise_flip_share"]) == 0 < float(rows[1]["noise_flip_share"])
    )  # gamma 0 vs 1e-4: the noise now steers
    assert (
        legacy_main([*argv[:-1], "--use_sota", "--use_logits", "--name", "sota", "--no_progress"]) == 2
    )  # --sgld with --use_sota
    assert "--sgld and --use_sota conflict" in capsys.readouterr().err
    assert (
        legacy_main(
            [a for a in argv[:-1] if a != "--sgld"] + ["--use_sota", "--use_logits", "--name", "sota", "--no_progress"]
        )
        == 0
    )

    sota = list(csv.DictReader(open(tmp_path / "sota.csv")))
    assert sota[0]["method"] == "boundary-shrink" and sota[0]["soft_labels"] == "True"
    assert legacy_main([*argv[:-1], "--model_name", "ResNet18"]) == 2
    assert "holds a allcnn model, not resnet18" in capsys.readouterr().err
    assert read_meta(tmp_path / "runs" / "sota").unlearning["method"] == "boundary-shrink"


def test_paper_preset_applies_to_boundary_shrink_but_typed_gamma_does_not():
    from langevin_unlearning.cli import build_parser
    from langevin_unlearning.cli.unlearn import configurations

    parse = lambda *a: build_parser().parse_args(
        ["unlearn", "--original", "o", "--forget", "class:3", "--name", "n", *a]
    )  # noqa: E731
    ((_, method, settings),) = configurations(parse("--method", "boundary-shrink", "--preset", "paper"))
    assert (
        method == "boundary-shrink" and settings["lr"] == 1e-5 and "gamma" not in settings and "lamda" not in settings
    )
    ((_, _, settings),) = configurations(parse("--preset", "paper"))
    assert (settings["gamma"], settings["lamda"], settings["steps"]) == (
        1e-4,
        0.0,
        1,
    )  # published, not langevin's defaults
    with pytest.raises(UserError, match="boundary-shrink has no gamma"):
        configurations(parse("--method", "boundary-shrink", "--preset", "paper", "--gamma", "0.1"))
