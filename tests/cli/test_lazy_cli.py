"""`--help` loads no torch; --threads is checked and recorded; the OpenMP wait policy is set before torch loads."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from langevin_unlearning.cli import main
from langevin_unlearning.cli import unlearn as unlearn_cli
from langevin_unlearning.core import threads
from langevin_unlearning.methods import langevin

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


def test_no_help_text_loads_torch():
    code = (
        "import sys\n"
        "from langevin_unlearning.cli import COMMANDS, main\n"
        "for argv in [['--help'], *([name, '--help'] for name in COMMANDS)]:\n"
        "    assert main(argv) == 0, argv\n"
        "    assert 'torch' not in sys.modules, argv\n"
        "print('ok')\n"
    )
    out = python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok") and "usage: langevin-unlearn report" in out.stdout


def test_the_names_help_shows_are_the_methods_own():
    assert unlearn_cli.BOUNDARY_METHODS == langevin.BOUNDARY_METHODS
    assert sorted(unlearn_cli.PRESET_NAMES) == sorted(langevin.PRESETS)
    assert unlearn_cli.setting_flags() == [f.name for f in dataclasses.fields(langevin.LangevinSettings)]


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_threads_count_is_one_line_exit_2(capsys, value):
    assert main(["--threads", value, "inspect", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--threads" in err and "at least 1" in err and "Traceback" not in err


def test_the_wait_policy_is_passive_when_torch_loads():
    code = (
        "import os, sys\n"
        "from langevin_unlearning.cli import main\n"
        "assert 'torch' not in sys.modules\n"
        "main(['inspect', 'nowhere'])\n"  # loads torch, then fails on the missing run
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT / "src")},
        timeout=120,
    )
    assert out.stdout.split() == ["PASSIVE", "True"], out.stderr
    assert python(code, OMP_WAIT_POLICY="ACTIVE").stdout.split()[0] == "ACTIVE"  # the user's value stands


def train_meta(tmp_path, capsys, *flags) -> dict:
    out = tmp_path / "run"
    argv = [*flags, "train", "--epochs", "1", "--width", "0.25", "--no-progress", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads((out / "model.json").read_text())


def test_threads_asked_is_used_and_recorded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    meta = train_meta(tmp_path, capsys, "--threads", "2")
    assert (meta["torch_threads"], meta["threads_reason"]) == (2, "asked")


def test_threads_without_asking_follow_the_policy(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "physical_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    meta = train_meta(tmp_path, capsys)  # digits 8x8 at width 0.25: tiny
    assert (meta["torch_threads"], meta["threads_reason"]) == (1, "tiny model")
