"""The audit and composition pages under docs/results are generated from the JSON stored beside them: each committed
page must be exactly what its script's `--report-only` writes from that JSON, so no number on them is typed by hand."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studies import fmnist_audit, fmnist_composition

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PAGES = {
    "audit-fmnist.md": fmnist_audit,
    "audit-digits.md": fmnist_audit,
    "composition-fmnist.md": fmnist_composition,
    "composition-digits.md": fmnist_composition,
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
