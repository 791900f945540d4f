"""`sweep` / `sweep-plot`: typed grids, the SQLite store (resume, kill -9, identity), Ray, plots, bad input."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import langevin_unlearning
from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.experiments.sweeps.grid import parse_grid
from langevin_unlearning.report.sweep_plots import pareto
from langevin_unlearning.store.sweep_store import SweepStore, run_key

CHEAP = ["--set", "epochs=1", "--set", "min_steps=5", "--set", "steps=2"]
GRID = ["--grid", "gamma=0,1", "--grid", "lamda=0,0.1"]


def sweep_argv(original_run, retrained_run, tmp_path, name="s", extra=()):
    return [
        "sweep",
        "--original",
        str(original_run[0]),
        "--retrain",
        str(retrained_run[0]),
        "--forget",
        "class:3",
        "--method",
        "langevin",
        *GRID,
        *CHEAP,
        "--seeds",
        "2",
        "--name",
        name,
        "--results-dir",
        str(tmp_path / "results"),
        "--no-progress",
        *extra,
    ]


def rows_by_key(folder: Path) -> dict:
    store = SweepStore.open(folder)
    try:
        return {r["key"]: r for r in store.rows()}
    finally:
        store.close()


# ---- grid parsing: any setting of any method, typed by its Settings dataclass -------------------------


def test_grid_values_take_the_settings_types():
    grid = parse_grid(
        "langevin",
        ["gamma=0,1e-4", "steps=1,5", "soft_labels=true,false", "noise=normal,laplace", "alpha=none,0.05"],
        ["epochs=2"],
    )
    assert grid.axes["gamma"] == [0.0, 1e-4] and all(type(v) is float for v in grid.axes["gamma"])
    assert grid.axes["steps"] == [1, 5] and all(type(v) is int for v in grid.axes["steps"])
    assert grid.axes["soft_labels"] == [True, False]
    assert grid.axes["noise"] == ["normal", "laplace"] and grid.axes["alpha"] == [None, 0.05]
    points = grid.points()
    assert len(points) == 2**5 and all(p["epochs"] == 2 for p in points)
    assert parse_grid("finetune", ["lr=0.01,0.1"], ["epochs=1"]).axes == {"lr": [0.01, 0.1]}  # any registered method


@pytest.mark.parametrize(
    "method, grids, fixed, message",
    [
        ("langevin", ["gama=0,1"], [], "langevin has no setting 'gama'"),
        ("boundary-shrink", ["gamma=0,1"], [], "boundary-shrink has no setting 'gamma'"),
        ("langevin", ["gamma=0,abc"], [], "gamma takes a float"),
        ("langevin", ["steps=1.5"], [], "steps takes an int"),
        ("langevin", ["soft_labels=maybe"], [], "soft_labels takes a bool"),
        ("langevin", ["gamma="], [], "--grid gamma= is empty"),
        ("langevin", ["gamma"], [], "is not NAME=VALUES"),
        ("langevin", ["gamma=0,1", "gamma=2"], [], "given twice"),
        ("langevin", ["gamma=0,1"], ["gamma=2"], "given twice"),
        ("langevin", ["gamma=1,1"], [], "repeats a value"),
        ("langevin", ["eps=0.1,-1"], [], "eps must be a positive"),  # the method's own check, per combination
    ],
)
def test_bad_grids_are_one_line_errors(method, grids, fixed, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("'", ".")) as e:
        parse_grid(method, grids, fixed)
    assert "\n" not in str(e.value)


def test_run_keys_are_deterministic_and_pareto_is_right():
    assert run_key("langevin", {"gamma": 0.1, "lamda": 0.0}, 0) == run_key("langevin", {"lamda": 0.0, "gamma": 0.1}, 0)
    assert run_key("langevin", {"gamma": 0.1}, 0) != run_key("langevin", {"gamma": 0.1}, 1)
    assert pareto([(1, 1), (0, 2), (2, 0), (2, 2), (1, 1.5)]) == [0, 1, 2]


# ---- the store -----------------------------------------------------------------------------------------


def test_store_identity_and_failed_rows_are_retried(tmp_path):
    ident = {
        "method": "langevin",
        "dataset": "digits",
        "forget": "class:3",
        "original_weights_sha256": "a" * 64,
        "retrain_weights_sha256": "b" * 64,
    }
    store = SweepStore.open(tmp_path / "x", ident)
    store.add("k1", "langevin", {"gamma": 0.0}, 0, {"forget_acc": 0.5, "mia": float("nan")})
    store.add("k2", "langevin", {"gamma": 1.0}, 0, {"error": "RuntimeError: boom"})
    assert store.finished_keys() == {"k1"}
    store.add("k2", "langevin", {"gamma": 1.0}, 0, {"forget_acc": 0.25})  # the retry replaces the failed row
    assert store.finished_keys() == {"k1", "k2"} and len(store) == 2
    assert store.rows()[0]["metrics"]["mia"] is None  # NaN is stored as JSON null, never as invalid JSON
    store.close()
    with pytest.raises(UserError, match="holds runs of forget 'class:3', not 'class:4'"):
        SweepStore.open(tmp_path / "x", {**ident, "forget": "class:4"})
    with pytest.raises(UserError, match="no sweep store"):
        SweepStore.open(tmp_path / "missing")


# ---- the command ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_stores_each_run_once_reruns_nothing_and_plots(original_run, retrained_run, tmp_path, capsys):
    argv = sweep_argv(original_run, retrained_run, tmp_path)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "retrain (target)" in out
        and "distance" in out
        and "8 runs planned, 0 already stored, 8 finished now (0 failed)" in out
    )
    first = rows_by_key(tmp_path / "results" / "s")
    assert len(first) == 8 and {r["seed"] for r in first.values()} == {0, 1}
    assert {(r["settings"]["gamma"], r["settings"]["lamda"]) for r in first.values()} == {
        (0.0, 0.0),
        (0.0, 0.1),
        (1.0, 0.0),
        (1.0, 0.1),
    }
    for r in first.values():
        m = r["metrics"]
        assert r["error"] is None and 0 <= m["forget_acc"] <= 1 and m["distance"] >= abs(m["forget_gap"])
        assert r["settings"]["steps"] == 2 and r["settings"]["epochs"] == 1
        assert 0 <= m["forget_test_auc"] <= 1 and m["forget_test_dist"] == abs(m["forget_test_auc"] - 0.5)
    # the original model still knows class 3; every run forgot some of it
    assert all(r["metrics"]["forget_acc"] < 1.0 for r in first.values())

    assert main(argv) == 0  # a rerun of the same command does nothing
    assert "8 already stored, 0 finished now" in capsys.readouterr().out
    assert rows_by_key(tmp_path / "results" / "s") == first

    assert main(["sweep-plot", "s", "--x", "gamma", "--y", "lamda", "--results-dir", str(tmp_path / "results")]) == 0
    plots = tmp_path / "results" / "s" / "plots"
    for name in ("heatmaps_gamma_vs_lamda.png", "front.png"):
        assert (plots / name).stat().st_size > 10_000 and (plots / name).read_bytes()[:4] == b"\x89PNG"
    # another pair under the same name is refused, in one line (here the input check sees first that the
    # "retrained" model is the original; the store's own identity check is tested in test_store_identity*)
    other = ["--retrain", str(original_run[0])]
    assert main(argv[:3] + other + argv[5:]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("holds runs of retrain_weights_sha256" in err or "is an original model" in err)


@pytest.mark.slow
def test_budget_stops_cleanly_and_the_next_call_resumes(original_run, retrained_run, tmp_path, capsys):
    argv = sweep_argv(original_run, retrained_run, tmp_path, name="b", extra=["--budget-seconds", "0"])
    assert main(argv) == 0
    assert "stopped at the budget, 7 run(s) left" in capsys.readouterr().out
    assert main(argv[:-2]) == 0
    assert "1 already stored, 7 finished now" in capsys.readouterr().out


@pytest.mark.slow
def test_kill_9_mid_sweep_loses_only_runs_in_flight(original_run, retrained_run, tmp_path):
    argv = sweep_argv(original_run, retrained_run, tmp_path, name="k")
    argv[argv.index("min_steps=5")] = "min_steps=25"  # slow enough runs to kill one mid-sweep
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(langevin_unlearning.__file__).resolve().parents[1]),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "langevin_unlearning.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "results" / "k" / "sweep.sqlite"
    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        if db.is_file():
            try:
                with sqlite3.connect(db) as conn:
                    stored = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            except sqlite3.OperationalError:  # the table is not created yet
                stored = 0
            if stored >= 1:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = rows_by_key(tmp_path / "results" / "k")
    assert 1 <= len(before) < 8, "the sweep should have been killed part-way"
    assert main(argv) == 0
    after = rows_by_key(tmp_path / "results" / "k")
    assert len(after) == 8 and all(after[k] == v for k, v in before.items())  # finished rows untouched, none twice
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT seed || settings) FROM runs").fetchone() == (8, 8)


@pytest.mark.slow
def test_ray_gives_the_same_rows_as_in_process(original_run, retrained_run, tmp_path):
    pytest.importorskip("ray")
    assert main(sweep_argv(original_run, retrained_run, tmp_path, name="seq")) == 0
    assert main(sweep_argv(original_run, retrained_run, tmp_path, name="ray", extra=["--ray", "--num-cpus", "2"])) == 0
    seq, ray = rows_by_key(tmp_path / "results" / "seq"), rows_by_key(tmp_path / "results" / "ray")
    assert set(seq) == set(ray) and len(seq) == 8
    for key in seq:
        a, b = seq[key]["metrics"], ray[key]["metrics"]
        for metric in (
            "forget_acc",
            "remain_acc",
            "test_acc",
            "train_forget_acc",
            "mia",
            "agreement_with_retrain",
            "js_to_retrain_forget",
            "distance",
        ):
            assert round(a[metric], 4) == round(b[metric], 4), (metric, seq[key]["settings"], seq[key]["seed"])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--grid", "gamma_typo=0,1"], "langevin has no setting 'gamma_typo'"),
        (["--grid", "steps=two"], "steps takes an int"),
        (["--grid", "phi="], "--grid phi= is empty"),
        (["--ray"], "pip install 'langevin-unlearning[ray]'"),
        (["--plot", "gamma"], "is not X,Y"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(original_run, retrained_run, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if Ray were not installed
    assert main(sweep_argv(original_run, retrained_run, tmp_path, extra=extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "results").exists()  # nothing written
