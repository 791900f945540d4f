"""One writer per result name, checked names, no leftovers, no silent replacement: with real processes.

The concurrent writer is this test process holding the same lock through the same API (store/locks.py);
the refused writer is always a real second process running the CLI.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langevin_unlearning.cli import build_parser
from langevin_unlearning.store.locks import clean_stale, exclusive, lock_file, stale_temps

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--epochs", "1", "--min-steps", "1", "--no-progress"]


def cli(*argv, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "langevin_unlearning.cli", *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.fixture
def pair(tmp_path, original_run, retrained_run):
    runs = tmp_path / "inputs"
    shutil.copytree(original_run[0], runs / "original")
    shutil.copytree(retrained_run[0], runs / "retrained")
    return runs / "original", runs / "retrained"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- the lock itself -------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    target = tmp_path / "results" / "x"
    with exclusive(target, "unlearn --name x"):
        assert lock_file(target).read_text().split()[0] == str(os.getpid())
        code = (
            "import sys; from langevin_unlearning.store.locks import exclusive\n"
            "from langevin_unlearning.core.errors import UserError\n"
            f"try:\n    exclusive({str(target)!r}, 'other').__enter__()\nexcept UserError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True,
            text=True,
        ).stdout
    assert f"being written by process {os.getpid()} (another `unlearn --name x`)" in out
    assert not lock_file(target).exists()  # a writer that ends removes its lock file


def holder(target, what: str, seconds: float) -> subprocess.Popen:
    """Another process that holds the lock of ``target`` for ``seconds`` (returns once it holds it)."""
    code = (
        "import time; from langevin_unlearning.store.locks import exclusive\n"
        f"with exclusive({str(target)!r}, {what!r}):\n    print('held', flush=True); time.sleep({seconds})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_of_a_killed_writer_is_free(tmp_path):
    target = tmp_path / "x"
    proc = holder(target, "victim", seconds=60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_file(target).exists()  # left behind by SIGKILL, but the kernel released the lock
    with exclusive(target, "next"):
        assert lock_file(target).read_text() == f"{os.getpid()} next\n"


def test_wait_blocks_until_the_holder_is_done(tmp_path):
    target = tmp_path / "x"
    proc = holder(target, "first", seconds=1.5)
    start = time.perf_counter()
    with exclusive(target, "second", wait=True):
        assert proc.poll() is not None or time.perf_counter() - start > 0.5
    proc.wait()


def test_a_refused_writer_leaves_no_folder(tmp_path):
    target = tmp_path / "a" / "b" / "x"
    with exclusive(target, "first"):
        pass
    assert not (tmp_path / "a").exists()


def test_stale_temporaries_of_dead_writers_only(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    (tmp_path / f".x.{dead}.abcd.tmp").mkdir()
    (tmp_path / f".x.{dead}.efgh.tmp").write_text("half")
    (tmp_path / f".x.{alive}.ijkl.tmp").mkdir()  # a live writer's work in progress
    (tmp_path / f".xy.{dead}.mnop.tmp").mkdir()  # another name's
    assert [p.name for p in stale_temps(tmp_path, "x")] == sorted([f".x.{dead}.abcd.tmp", f".x.{dead}.efgh.tmp"])
    with pytest.warns(UserWarning, match="removed 2 temporary"):
        clean_stale(tmp_path, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".x.{alive}.ijkl.tmp", f".xy.{dead}.mnop.tmp"])


# --- the commands, as real processes ----------------------------------------------------------------------


def test_two_unlearns_of_one_name(tmp_path, pair):
    orig, ret = pair
    with exclusive(tmp_path / "runs" / "x", "unlearn --name x"):
        refused = cli(
            "unlearn", "--original", orig, "--retrain", ret, "--forget", "class:3", "--name", "x", *QUICK, cwd=tmp_path
        )
    line = one_error(refused)
    assert f"runs/x is being written by process {os.getpid()}" in line and "--wait" in line and "--name" in line
    assert not (tmp_path / "runs" / "x").exists() and not (tmp_path / "results" / "x.csv").exists()
    ok = cli(
        "unlearn", "--original", orig, "--retrain", ret, "--forget", "class:3", "--name", "x", *QUICK, cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]  # no lock or temp left


def test_two_sweeps_of_one_name(tmp_path, pair):
    orig, ret = pair
    argv = ["sweep", "--original", orig, "--retrain", ret, "--forget", "class:3", "--name", "s"]
    argv += ["--set", "epochs=1", "--set", "min_steps=1", "--no-progress"]
    with exclusive(tmp_path / "results" / "s", "sweep --name s"):
        line = one_error(cli(*argv, cwd=tmp_path))
    assert f"results/s is being written by process {os.getpid()} (another `sweep --name s`)" in line
    assert cli(*argv, cwd=tmp_path).returncode == 0
    again = cli(*argv, cwd=tmp_path)  # resuming on purpose still works: nothing left to run
    assert again.returncode == 0 and "1 already stored" in again.stdout, again.stderr


def test_an_existing_run_is_kept_unless_overwrite(tmp_path, pair):
    orig, ret = pair
    argv = ["unlearn", "--original", orig, "--retrain", ret, "--forget", "class:3", "--name", "x", *QUICK]
    assert cli(*argv, cwd=tmp_path).returncode == 0
    weights = tmp_path / "runs" / "x" / "model.safetensors"
    before = weights.read_bytes()
    line = one_error(cli(*argv, cwd=tmp_path))
    assert line == "error: runs/x already exists; pass --overwrite to replace it, or pick another --name"
    assert weights.read_bytes() == before
    assert cli(*argv, "--overwrite", "--seed", "1", cwd=tmp_path).returncode == 0
    assert weights.read_bytes() != before
    with open(tmp_path / "results" / "x.csv") as f:  # the replaced run's row went with its weights
        assert [r["seed"] for r in csv.DictReader(f)] == ["1"]

    train = ["train", "--dataset", "digits", "--width", "0.25", "--epochs", "1", "--no-progress", "--out", "runs/t"]
    assert cli(*train, cwd=tmp_path).returncode == 0
    line = one_error(cli(*train, cwd=tmp_path))
    assert line == "error: runs/t already exists; pass --overwrite to replace it, or pick another --out"
    assert cli(*train, "--overwrite", cwd=tmp_path).returncode == 0


def test_a_killed_writers_temporary_folder_is_removed_by_the_next_run(tmp_path):
    """A real SIGKILL while `train` writes its run folder, then a rerun: it warns once and cleans up."""
    train = ["train", "--dataset", "digits", "--width", "0.25", "--epochs", "30", "--no-progress", "--out", "runs/t"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "langevin_unlearning.cli", *train], cwd=tmp_path, env=env)
    deadline = time.monotonic() + 120
    while not (tmp_path / "runs" / ".t.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the kill may land before the run folder's temporary exists: leave one as a killed save would
    stale = tmp_path / "runs" / f".t.{proc.pid}.kill.tmp"
    if not stale_temps(tmp_path / "runs", "t"):
        stale.mkdir()
        (stale / "model.safetensors").write_bytes(b"half")
    rerun = cli(*[("1" if a == "30" else a) for a in train], cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    warned = [line for line in rerun.stderr.splitlines() if line.startswith("warning: removed")]
    assert len(warned) == 1 and "interrupted writer of t" in warned[0]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["t"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "runs" / "t").stat().st_mode) == 0o777 & ~mask
    for f in (tmp_path / "runs" / "t").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f


def test_bank_members_get_the_usual_permissions(tmp_path, pair):
    orig, _ = pair
    ok = cli(
        "bank", "--original", orig, "--forget", "class:3", "--n", "1", "--out", "bank", "--no-progress", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    mask = os.umask(0)
    os.umask(mask)
    member = tmp_path / "bank" / "seed-0000"
    assert stat.S_IMODE(member.stat().st_mode) == 0o777 & ~mask
    with exclusive(tmp_path / "bank", "bank --out bank"):
        line = one_error(
            cli("bank", "--original", orig, "--forget", "class:3", "--n", "1", "--out", "bank", cwd=tmp_path)
        )
    assert "bank is being written by process" in line and "--out" in line


# --- every user name that becomes a path is checked, by every command -------------------------------------


def name_commands() -> list[tuple[str, str]]:
    """(command, how its name is given): every sub-command with --name or a positional NAME."""
    found = []
    for command, sub in build_parser().commands.items():
        for action in sub._actions:
            if "--name" in action.option_strings:
                found.append((command, "--name"))
            elif not action.option_strings and action.dest == "name":
                found.append((command, "positional"))
    return found


def test_the_commands_that_take_a_name_are_found():
    assert {c for c, _ in name_commands()} >= {
        "unlearn",
        "compare",
        "sweep",
        "audit",
        "compose",
        "report",
        "sweep-plot",
    }


REQUIRED = {
    "--original": "runs/missing",
    "--retrain": "runs/missing",
    "--forget": "class:3",
    "--bank": "bank",
    "--method": "langevin",
    "--n": "2",
    "--features": "runs/missing",
    "--head": "runs/missing",
    "--x": "gamma",
    "--y": "lamda",
}


@pytest.mark.parametrize("bad", ["../evil", "", "/abs/path"])
@pytest.mark.parametrize("command,how", name_commands())
def test_every_name_is_checked_before_anything_else(command, how, bad, tmp_path):
    sub = build_parser().commands[command]
    argv = [command]
    for action in sub._actions:
        if action.required and action.option_strings and "--name" not in action.option_strings:
            argv += [action.option_strings[0], REQUIRED[action.option_strings[0]]]
    argv += ["--name", bad] if how == "--name" else [bad]
    line = one_error(cli(*argv, cwd=tmp_path))
    assert "name" in line.lower() and ("plain name" in line or "empty" in line), line
    assert list(tmp_path.iterdir()) == []
