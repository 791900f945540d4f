"""The audit, composition and digits pages under docs/results are generated from the JSON stored beside them: each committed
page must be exactly what its script's `--report-only` writes from that JSON, so no number on them is typed by hand."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from langevin_unlearning.methods import create_method
from studies import digits_pages, fmnist_audit, fmnist_composition, fmnist_suppress_levels

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PAGES = {
    "audit-fmnist.md": fmnist_audit,
    "audit-fmnist-class0.md": fmnist_audit,
    "audit-fmnist-class2-suppress.md": fmnist_audit,
    "audit-fmnist-class4-suppress.md": fmnist_audit,
    "audit-fmnist-class8-suppress.md": fmnist_audit,
    "audit-fmnist-class2-suppress-head.md": fmnist_audit,
    "audit-fmnist-class4-suppress-head.md": fmnist_audit,
    "audit-fmnist-class8-suppress-head.md": fmnist_audit,
    "audit-fmnist-class2-refit-rows.md": fmnist_audit,
    "audit-fmnist-class4-refit-rows.md": fmnist_audit,
    "audit-fmnist-class8-refit-rows.md": fmnist_audit,
    "audit-digits.md": fmnist_audit,
    "composition-fmnist.md": fmnist_composition,
    "composition-digits.md": fmnist_composition,
    "analyses-digits.md": digits_pages,
    "sweep-digits.md": digits_pages,
    "suppress-levels-fmnist.md": fmnist_suppress_levels,
}


def stored(page: str) -> dict:
    return json.loads((RESULTS / page).with_suffix(".json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_committed_page_is_what_its_stored_result_generates(page):
    source = f"docs/results/{page}"
    assert PAGES[page].render(stored(page), source) == (RESULTS / page).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_pages_name_no_old_defaults(page):
    text = (RESULTS / page).read_text(encoding="utf-8").lower()
    assert "then-default" not in text and "defaults before" not in text and "defaults of that day" not in text


def test_changing_one_stored_number_changes_the_audit_page():
    result = stored("audit-fmnist.md")
    before = fmnist_audit.render(result, "p.md")
    edited = copy.deepcopy(result)
    edited["rows"][0]["F"] = 0.123456
    after = fmnist_audit.render(edited, "p.md")
    assert before != after and "0.123" in after


def test_the_audit_verdict_follows_the_numbers():
    result = copy.deepcopy(stored("audit-fmnist.md"))
    names = [r["model"] for r in result["rows"]]
    assert {"langevin", "eu-k"} <= set(names)
    for r in result["rows"]:
        r["F"], r["gap"] = (0.9, 0.001) if r["model"] == "langevin" else (0.1, 0.5)
    text = fmnist_audit.render(result, "p.md")
    assert "highest F): **langevin** (F 0.900)" in text and "They agree." in text
    assert "`langevin`: F 0.900" in text and "at or above eu-k's 0.100" in text
    result["rows"][names.index("eu-k")]["F"] = 0.95
    text = fmnist_audit.render(result, "p.md")
    assert "highest F): **eu-k**" in text and "They disagree" in text and "below eu-k's 0.950" in text


def test_the_composition_verdict_follows_the_numbers():
    result = copy.deepcopy(stored("composition-fmnist.md"))
    rows = {r["model"]: r for r in result["rows"]}
    final = rows[result["trajectory"][-1]]
    final["gap"] = 0.0
    assert "Composition buys a smaller gap" in fmnist_composition.render(result, "p.md")
    final["gap"] = 10.0
    assert "Composition buys nothing here" in fmnist_composition.render(result, "p.md")


def test_report_only_rewrites_a_page_from_its_json_and_refuses_without_one(tmp_path):
    (tmp_path / "page.json").write_text((RESULTS / "audit-digits.json").read_text(encoding="utf-8"))
    run = subprocess.run(
        [sys.executable, "-m", "studies.fmnist_audit", "--report-only", "--out", str(tmp_path / "page.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "page.md").read_text() == fmnist_audit.render(
        stored("audit-digits.md"), str(tmp_path / "page.md")
    )
    missing = subprocess.run(
        [sys.executable, "-m", "studies.fmnist_composition", "--report-only", "--out", str(tmp_path / "none.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "no stored composition run" in missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "none.md").exists()


@pytest.mark.slow
def test_the_digits_dry_run_stores_its_numbers_and_its_page_regenerates(tmp_path):
    """The whole audit pipeline on digits (bank, five methods, scoring): the page it writes is its JSON's rendering,
    and a rerun reuses every finished method instead of running it again."""
    out = tmp_path / "audit.md"
    args = [sys.executable, "-m", "studies.fmnist_audit", "--tiny", "--out", str(out)]
    args += ["--work", str(tmp_path / "work"), "--cache", str(tmp_path / "cache")]
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert [r["model"] for r in result["rows"]] == fmnist_audit.METHODS
    assert out.read_text() == fmnist_audit.render(result, str(out))
    floor = next(r for r in result["references"] if r["model"] == fmnist_audit.FLOOR)
    assert floor["F"] > max(r["F"] for r in result["rows"] if r["model"] != "eu-k")
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(out.with_suffix(".json").read_text())["rows"] == result["rows"]


def test_the_analyses_verdict_follows_the_numbers():
    result = stored("analyses-digits.md")
    rows = {r["model"]: r for r in result["rows"]}
    retrain = rows["retrain"]
    deep = copy.deepcopy(result)
    for r in deep["rows"]:
        if r["model"] == "langevin":
            r.update(relearn_steps=retrain["relearn_steps"] + 1, probe_acc=retrain["probe_acc"])
    assert "`langevin` removed it as deeply as retraining" in digits_pages.render(deep, "p.md")
    shallow = copy.deepcopy(result)
    for r in shallow["rows"]:
        if r["model"] == "langevin":
            r.update(relearn_steps=0.0, probe_acc=1.0, forget_acc=retrain["forget_acc"])
    assert "`langevin` hid it more than it removed it" in digits_pages.render(shallow, "p.md")


def test_the_sweep_page_names_the_setting_its_rows_rank_closest():
    result = stored("sweep-digits.md")
    edited = copy.deepcopy(result)
    last = edited["rows"][-1]
    for r in edited["rows"]:  # every seed of the last grid point becomes the closest
        if all(r["settings"][k] == last["settings"][k] for k in ("gamma", "lamda")):
            r["metrics"]["avg_gap"] = 0.0
    line = digits_pages.render(edited, "p.md").splitlines()[-1]
    assert (
        line.startswith("smallest mean Avg. Gap")
        and f"gamma={last['settings']['gamma']}, lamda={last['settings']['lamda']}" in line
    )


@pytest.mark.slow
def test_the_digits_sweep_page_is_measured_and_regenerates(tmp_path):
    out = tmp_path / "sweep.md"
    args = [
        sys.executable,
        "-m",
        "studies.digits_pages",
        "sweep",
        "--out",
        str(out),
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert len(result["rows"]) == 4 * len(digits_pages.SWEEP_SEEDS)
    assert out.read_text() == digits_pages.render(result, str(out))


def test_an_audit_variant_names_its_row_and_types_its_settings():
    assert fmnist_audit.parse_variant("lg3=langevin:epochs=3;lr=3e-4") == ("lg3", "langevin", {"epochs": 3, "lr": 3e-4})
    for bad, said in (("lg3", "is not NAME=METHOD"), ("lg3=langevin:bogus=1", "has no setting 'bogus'")):
        with pytest.raises(SystemExit, match=said):
            fmnist_audit.parse_variant(bad)


def test_the_audit_page_compares_each_variant_with_langevin_and_flags_a_tuning_class():
    result = copy.deepcopy(stored("audit-fmnist.md"))
    langevin = next(r for r in result["rows"] if r["model"] == "langevin")
    result["rows"].append({**langevin, "model": "langevin-3-passes", "F": langevin["F"] + 0.5})
    page = fmnist_audit.render(result, "p.md")
    assert f"`langevin-3-passes` F {langevin['F'] + 0.5:.3f} (+0.500)" in page
    assert "is a tuning class" not in page
    result["forget"] = "class:0"
    assert "`class:0` is a tuning class" in fmnist_audit.render(result, "p.md")


def test_a_kept_audit_row_is_reused_across_a_switch_that_is_off_and_redone_when_it_is_on(tmp_path):
    key = {"bank": "b", "bank_seeds": [1, 2], "n": 1, "bootstrap": 0}
    switches = ("suppress", "suppress_level", "suppress_head_updates", "refit_rows")
    before = {k: v for k, v in create_method("langevin").describe().items() if k not in switches}
    (tmp_path / "row.json").write_text(json.dumps({**key, "settings": before, "row": {"model": "langevin"}}))
    today = create_method("langevin").describe()
    assert fmnist_audit.finished(tmp_path, key, "langevin", today)["row"] == {"model": "langevin"}
    assert fmnist_audit.finished(tmp_path, key, "langevin", create_method("langevin", suppress=0.3).describe()) is None
    assert fmnist_audit.finished(tmp_path, key, "langevin", create_method("langevin", refit_rows=9).describe()) is None
    assert fmnist_audit.finished(tmp_path, {**key, "n": 2}, "langevin", today) is None


def test_the_suppression_head_updates_are_chosen_on_the_tuning_classes_alone():
    """The stored level check chose the default `suppress_head_updates`; held-out numbers cannot move the choice."""
    from langevin_unlearning.methods.langevin import SUPPRESS_HEAD_UPDATES

    result = stored("suppress-levels-fmnist.md")
    assert result["chosen"] == fmnist_suppress_levels.chosen(result["rows"]) == SUPPRESS_HEAD_UPDATES
    assert set(result["tuning"]) == {0, 2} and not set(result["tuning"]) & set(result["held_out"])
    edited = copy.deepcopy(result["rows"])
    for r in edited:
        if r["role"] == "held out" and r["updates"] is not None:
            r["abs_error"] = 0.0 if r["updates"] != SUPPRESS_HEAD_UPDATES else 99.0
    assert fmnist_suppress_levels.chosen(edited) == SUPPRESS_HEAD_UPDATES
    for r in edited:  # the tuning rows do choose
        if r["role"] == "tuning" and r["updates"] == SUPPRESS_HEAD_UPDATES:
            r["abs_error"] = 99.0
    assert fmnist_suppress_levels.chosen(edited) != SUPPRESS_HEAD_UPDATES


def test_the_refit_rows_audits_run_the_updates_the_level_check_chose():
    """The audited `refit_rows` is the one chosen on the tuning classes, and the held-out pages never chose it."""
    result = stored("suppress-levels-fmnist.md")
    n = result["chosen_rows"]
    assert n == fmnist_suppress_levels.chosen(result["rows"], "rows")
    edited = copy.deepcopy(result["rows"])
    for r in edited:
        if r["role"] == "held out" and r.get("kind") == "rows":
            r["abs_error"] = 0.0 if r["updates"] != n else 99.0
    assert fmnist_suppress_levels.chosen(edited, "rows") == n
    for k in (2, 4, 8):
        page = stored(f"audit-fmnist-class{k}-refit-rows.md")
        assert f"refit_rows={n}" in page["command"]
        assert f"langevin-refit-rows-{n}" in {r["model"] for r in page["rows"]}


def test_the_level_check_dry_run_stores_its_numbers_and_regenerates(tmp_path):
    out = tmp_path / "levels.md"
    run = [sys.executable, "-m", "studies.fmnist_suppress_levels", "--tiny", "--cache", str(tmp_path / "c")]
    done = subprocess.run([*run, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert {r["estimate"] for r in result["rows"]} >= {
        "retrained",
        "original",
        "head 50",
        "langevin",
        "langevin --suppress 0.1",
        "langevin --refit-rows 50",
    }
    assert result["chosen_rows"] == fmnist_suppress_levels.chosen(result["rows"], "rows") in (50, 200, 800)
    retrained = [r for r in result["rows"] if r["estimate"] == "retrained"]
    assert all(r["abs_error"] == 0 and r["spearman"] > 0.999 for r in retrained)
    page = out.read_text()
    out.unlink()
    again = subprocess.run([*run, "--out", str(out), "--report-only"], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0 and out.read_text() == page
