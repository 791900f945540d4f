"""Studies: the declared grid is checked before it runs, every cell is stored exactly once across a kill, and the
report is generated from the store."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langevin_unlearning.experiments.study import all_cells, load_study, parse_study
from langevin_unlearning.store.study_store import StudyStore

TINY = {
    "name": "tiny",
    "dataset": "digits",
    "recipe": {"model": "allcnn", "width": 0.25, "epochs": 2, "lr": 0.05, "batch_size": 64},
    "forget": [
        {"kind": "class-wise", "specs": ["class:3"], "seeds": [0]},
        {"kind": "random 10%", "specs": ["random:0.1"], "seeds": [0]},
    ],
    "methods": {
        "retrain": {"source": "the reference"},
        "finetune": {"settings": {"epochs": 1, "min_steps": 5}, "source": "a test budget"},
        "neggrad": {"settings": {"epochs": 1, "min_steps": 5}, "source": "a test budget"},
    },
}


def cli(*argv, cwd=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "langevin_unlearning.cli", *argv], capture_output=True, text=True, cwd=cwd, **kw
    )


def write(tmp_path: Path, study: dict, name: str = "study.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(study))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["methods"].update({"sgd-magic": {"source": "x"}}), "unknown method 'sgd-magic'"),
        (lambda s: s["methods"]["finetune"]["settings"].update({"gamma": 1}), "finetune has no setting gamma"),
        (lambda s: s["methods"]["finetune"]["settings"].update({"lr": -1}), "lr"),
        (lambda s: s["methods"]["finetune"].pop("source"), "needs a source"),
        (lambda s: s["methods"].pop("retrain"), "must include 'retrain'"),
        (lambda s: s.update({"seeds": 3}), "unknown key seeds"),
        (lambda s: s["recipe"].update({"epoch": 3}), "recipe has no setting epoch"),
        (lambda s: s.update({"analyses": {"names": ["relearn"], "methods": ["salun"]}}), "does not run"),
        (lambda s: s["methods"].update({"finetune fast": {"source": "x"}}), "a variant's entry names its method"),
        (lambda s: s["methods"].update({"ft": {"method": "sgd-magic", "source": "x"}}), "unknown method 'sgd-magic'"),
        (lambda s: s["methods"]["retrain"].update({"method": "finetune"}), "must be the method 'retrain'"),
        (lambda s: s["methods"]["finetune"].update({"lr": 1}), "unknown key lr; its keys are method, settings"),
    ],
)
def test_a_bad_study_file_is_one_line_and_exit_2_before_anything_runs(tmp_path, change, message):
    study = json.loads(json.dumps(TINY))
    change(study)
    result = cli("study", str(write(tmp_path, study)), "--results-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "runs").exists()


def test_unknown_study_name_and_bad_json_are_one_line(tmp_path):
    result = cli("study", "no-such-study", cwd=tmp_path)
    assert result.returncode == 2 and "no shipped study 'no-such-study'" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = cli("study", str(bad), cwd=tmp_path)
    assert result.returncode == 2 and "is not valid JSON" in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_shipped_studies_parse_and_declare_a_source_for_every_method():
    for name in ("fmnist", "digits"):
        study = load_study(name)
        assert study.methods and all(m.source for m in study.methods)
    fmnist = load_study("fmnist")
    from langevin_unlearning.methods import METHODS

    assert {m.name for m in fmnist.methods} == set(METHODS.names())  # every registered method
    assert [k.kind for k in fmnist.forget] == ["class-wise", "random 10%"]
    assert len(fmnist.forget[0].specs) == 10 and fmnist.forget[1].seeds == (0, 1, 2)


def test_variants_of_one_method_are_rows_of_their_own_and_plain_entries_keep_their_keys():
    from langevin_unlearning.experiments.study.run import cell_key

    plain = parse_study(json.loads(json.dumps(TINY)))
    raw = json.loads(json.dumps(TINY))
    raw["methods"]["finetune lr 0.02"] = {
        "method": "finetune",
        "settings": {"epochs": 1, "min_steps": 5, "lr": 0.02},
        "source": "a variant",
    }
    study = parse_study(raw)
    variant = study.method("finetune lr 0.02")
    assert (variant.method, variant.settings["lr"]) == ("finetune", 0.02)
    assert study.method("finetune").method == "finetune" and study.method("finetune").settings["lr"] != 0.02
    cells = {c.method: c for c in all_cells(study) if c.spec == "class:3"}
    assert {"finetune", "finetune lr 0.02"} <= set(cells)
    assert cell_key(study, cells["finetune"]) != cell_key(study, cells["finetune lr 0.02"])
    # adding a variant changes no other cell's key: stores written before it stay current
    before = {cell_key(plain, c) for c in all_cells(plain)}
    assert before <= {cell_key(study, c) for c in all_cells(study)}


def _cells(store_path: Path) -> list[tuple]:
    if not store_path.is_file():
        return []
    try:
        with sqlite3.connect(store_path, timeout=5) as conn:
            return conn.execute("SELECT key, method, finished_at FROM cells WHERE error IS NULL").fetchall()
    except sqlite3.OperationalError:  # the table is being created
        return []


def test_a_study_killed_mid_run_resumes_with_every_cell_exactly_once(tmp_path):
    path = write(tmp_path, TINY)
    store_path = tmp_path / "results" / "tiny" / "study.sqlite"
    planned = len(all_cells(parse_study(json.loads(path.read_text()))))
    assert planned == 8  # 2 forget sets x (original, retrain, finetune, neggrad)
    args = ("study", str(path), "--results-dir", "results", "--models-dir", "models", "--no-progress")
    proc = subprocess.Popen([sys.executable, "-m", "langevin_unlearning.cli", *args], cwd=tmp_path)
    deadline = time.monotonic() + 300
    while len(_cells(store_path)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {key: finished for key, _, finished in _cells(store_path)}
    assert 2 <= len(before) < planned, "the kill did not land mid-run"
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{len(before)} already stored, {planned - len(before)} finished now" in result.stdout
    after = _cells(store_path)
    keys = [key for key, _, _ in after]
    assert len(keys) == planned == len(set(keys))
    assert all(before[key] == finished for key, _, finished in after if key in before)  # kept, not rerun
    assert (tmp_path / "results" / "tiny" / "report.md").is_file()
    again = cli(*args, cwd=tmp_path)
    assert f"{planned} already stored, 0 finished now" in again.stdout


def test_changing_a_setting_runs_that_method_again_and_the_report_uses_the_new_rows(tmp_path):
    from langevin_unlearning.experiments.study import current_rows
    from langevin_unlearning.experiments.study.run import run_study
    from langevin_unlearning.experiments.sweeps.executors import make_executor

    one = json.loads(json.dumps(TINY))
    one["forget"] = one["forget"][:1]
    run = dict(models=tmp_path / "models", executor=make_executor(None), progress=False)
    first = run_study(parse_study(one), tmp_path / "results", **run)
    assert first.finished == 4
    one["methods"]["finetune"]["settings"]["lr"] = 0.02
    study = parse_study(one)
    second = run_study(study, tmp_path / "results", **run)
    assert (second.skipped, second.finished) == (3, 1)  # only finetune's cell; no model retrained
    rows = current_rows(study, StudyStore.open(tmp_path / "results" / "tiny", create=False))
    assert [r["settings"]["lr"] for r in rows if r["method"] == "finetune"] == [0.02]
    assert len(StudyStore.open(tmp_path / "results" / "tiny").rows()) == 5  # the old row is kept, not shown


COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "results" / "studies"
README = Path(__file__).resolve().parents[2] / "README.md"
TOLERANCE = 2.0  # percentage points, per cell, on the CPU model and torch version that wrote the store
# Another CPU rounds differently and small-data training amplifies it (measured: Intel Xeon against the AMD EPYC
# store, median cell difference 0.08 points, 92% of the values within 2 points, the largest 10 points): there the
# check is on the distribution of the differences, not on every cell.
OTHER_CPU_MEDIAN, OTHER_CPU_SHARE_WITHIN = 0.5, 0.8


@pytest.mark.slow
def test_the_digits_study_reproduces_its_committed_numbers(tmp_path):
    """Rerun the shipped two-class digits study from scratch (models too) and compare every cell's UA, RA, TA and
    MIA-Efficacy with the committed store: within TOLERANCE points on the store's machine, and in distribution on
    another CPU."""
    import statistics

    from langevin_unlearning.evaluation.closeness import SALUN_COLUMNS, salun_columns
    from langevin_unlearning.experiments.study.run import machine

    result = cli("study", "digits", "--results-dir", "results", "--models-dir", "models", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    study = load_study("digits")
    from langevin_unlearning.experiments.study import current_rows

    def table(folder):
        store = StudyStore.open(folder, create=False)
        rows = {
            (r["kind"], r["spec"], r["seed"], r["method"]): salun_columns(r["metrics"])
            for r in current_rows(study, store)
        }
        wrote = store.meta("machine") or {}
        store.close()
        return rows, wrote

    (new, _), (committed, wrote) = table(tmp_path / "results" / "digits"), table(COMMITTED / "digits")
    assert len(new) == len(committed) == len(all_cells(study))
    diffs = {(cell, c): abs(new[cell][c] - committed[cell][c]) for cell in committed for c in SALUN_COLUMNS}
    here = machine()
    if (wrote.get("cpu"), wrote.get("torch")) == (here["cpu"], here["torch"]):
        far = [(key, d) for key, d in diffs.items() if d > TOLERANCE]
        assert not far, far[:5]
    else:
        within = sum(d <= TOLERANCE for d in diffs.values()) / len(diffs)
        assert statistics.median(diffs.values()) <= OTHER_CPU_MEDIAN and within >= OTHER_CPU_SHARE_WITHIN, (
            f"store written on {wrote.get('cpu')}, rerun on {here['cpu']}: median difference "
            f"{statistics.median(diffs.values()):.2f} points, {within:.0%} within {TOLERANCE}"
        )


@pytest.mark.parametrize("name", ["fmnist", "fmnist_subclass", "fmnist_subclass_tuning", "digits"])
def test_the_committed_reports_and_readme_match_their_stores(name):
    from langevin_unlearning.report.study import stale_files

    in_readme = f"<!-- study:{name}:start" in README.read_text(encoding="utf-8")
    assert stale_files(load_study(name), COMMITTED / name, readme=README if in_readme else None) == []


def test_editing_one_number_in_the_readme_section_fails_the_check(tmp_path):
    import re

    from langevin_unlearning.report.study import stale_files

    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- study:fmnist:start")
    number = re.compile(r"\d+\.\d\d").search(text, start)
    assert number is not None and number.start() < text.index("<!-- study:fmnist:end -->")
    last = "1" if text[number.end() - 1] != "1" else "2"
    edited = tmp_path / "README.md"
    edited.write_text(text[: number.end() - 1] + last + text[number.end() :], encoding="utf-8")
    assert stale_files(load_study("fmnist"), COMMITTED / "fmnist", readme=edited) == [edited]


def test_the_readme_results_hold_no_number_outside_the_generated_section():
    import re

    text = README.read_text(encoding="utf-8")
    results = text[text.index("## Results") :]
    results = results[: results.index("\n## ", 3)]
    outside = re.sub(r"<!-- study:(\w+):start.*?<!-- study:\1:end -->", "", results, flags=re.S)
    outside = re.sub(r"\]\([^)]*\)", "]", outside)  # link targets are paths, not results
    assert not re.search(r"\d", outside), re.search(r".{0,40}\d.{0,40}", outside).group(0)


def test_a_budget_stops_the_study_cleanly_and_a_rerun_finishes_it(tmp_path):
    path = write(tmp_path, TINY)
    args = ("study", str(path), "--results-dir", "results", "--models-dir", "models", "--no-progress")
    stopped = cli(*args, "--budget-seconds", "0", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped at the budget, 8 cell(s) left (rerun to resume)" in stopped.stdout
    assert "0 of 8 cells stored" in (tmp_path / "results" / "tiny" / "report.md").read_text()
    done = cli(*args, cwd=tmp_path)
    assert "0 already stored, 8 finished now (0 failed); complete" in done.stdout


def test_the_subclass_study_runs_the_langevin_variant_its_tuning_study_ranks_closest():
    """The sub-class settings are chosen on the tuning sets, by mean Avg. Gap over all of them, and reported on
    sets no choice looked at."""
    import statistics

    from langevin_unlearning.experiments.study import current_rows
    from langevin_unlearning.report.study import cell_values

    tuning, report = load_study("fmnist_subclass_tuning"), load_study("fmnist_subclass")
    tuned = {(spec, seed) for kind in tuning.forget for spec in kind.specs for seed in kind.seeds}
    reported = {(spec, seed) for kind in report.forget for spec in kind.specs for seed in kind.seeds}
    assert tuned and reported and not tuned & reported
    assert set(tuning.tuned_on) == {spec for spec, _ in tuned}

    store = StudyStore.open(COMMITTED / "fmnist_subclass_tuning", create=False)
    values = cell_values(current_rows(tuning, store))
    store.close()
    variants = [m for m in tuning.methods if m.method == "langevin"]
    assert len(variants) >= 2
    gaps = {}
    for m in variants:
        units = [v["Avg. Gap"] for (_, spec, seed, method), v in values.items() if method == m.name]
        assert len(units) == len(tuned), (m.name, len(units))
        gaps[m.name] = statistics.mean(units)
    best = tuning.method(min(gaps, key=gaps.get))
    assert report.method("langevin").settings == best.settings, gaps
