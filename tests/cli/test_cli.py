"""The command line: output tables, saved runs, and one-line errors for bad input."""

import subprocess
import sys
from pathlib import Path

import pytest

from langevin_unlearning.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "imagenet", "--out", "x"], "unknown dataset 'imagenet'"),
        (["train", "--model", "vgg16", "--out", "x", "--epochs", "1"], "unknown model 'vgg16'"),
        (["train", "--forget", "class:12", "--out", "x", "--epochs", "1"], "class 12 is out of range"),
        (["train", "--epochs", "0", "--out", "x"], "--epochs must be at least 1"),
        (["train", "--exclude-forget", "--out", "x", "--epochs", "1"], "needs --forget"),
        (["train", "--device", "tpu", "--out", "x"], "unknown device"),
    ],
)
def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv, "--no-progress")
    assert code == 2
    assert err.strip().count("\n") == 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_train_then_datasets(capsys, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "train",
        "--width",
        "0.1",
        "--epochs",
        "1",
        "--forget",
        "class:3",
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
    )
    assert code == 0 and "forget_acc" in out and (tmp_path / "r" / "model.safetensors").is_file()
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0 and "digits" in out and "fashionmnist" in out and "medmnist:<flag>" in out


def cli(*argv, cwd=None):
    """A real process: exit status and stderr exactly as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "langevin_unlearning.cli", *argv], capture_output=True, text=True, cwd=cwd
    )


def test_corrupted_and_mismatched_checkpoints_are_one_line(tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--width", "0.1", "--epochs", "1", "--out", str(run), "--no-progress").returncode == 0
    ok = cli("inspect", str(run))
    assert ok.returncode == 0 and "verified" in ok.stdout
    wrong = cli("inspect", str(run), "--model", "resnet18")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "not resnet18" in wrong.stderr
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100] + bytes(100))
    bad = cli("inspect", str(run))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert "corrupted" in bad.stderr and "Traceback" not in bad.stderr


def test_legacy_entry_point_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--data_name", "mnist", "--train"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "unknown dataset 'mnist'" in proc.stderr and "Traceback" not in proc.stderr
