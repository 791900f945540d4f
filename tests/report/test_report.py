"""`report`: one self-contained HTML page for a results folder, checked as HTML and in a real headless Chromium."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest
import tomllib
import torch

from browser import CHROMIUM, open_in_chromium
from langevin_unlearning.cli import main
from langevin_unlearning.core.digest import index_digest
from langevin_unlearning.core.validation import InputWarning
from langevin_unlearning.experiments.compare import compare
from langevin_unlearning.experiments.setup import load_setup
from langevin_unlearning.report import render_report, write_report
from langevin_unlearning.report.compare import write_compare
from langevin_unlearning.report.plots import per_class_plot
from langevin_unlearning.store.tables import write_csv

ROOT = Path(__file__).resolve().parents[2]


class Page(HTMLParser):
    """The parts of a page the tests look at: tables (rows of cells, with row classes), images, links, scripts."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self.links: list[str] = []
        self.scripts = 0
        self.urls: list[str] = []  # every src / href / ... attribute of every tag
        self._stack: list[dict] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "action", "data", "poster")]
        if tag == "table":
            self._stack.append({"class": a.get("class", ""), "rows": []})
        elif tag == "tr" and self._stack:
            self._stack[-1]["rows"].append({"class": a.get("class", ""), "cells": []})
        elif tag in ("td", "th") and self._stack:
            self._cell = []
        elif tag == "img":
            self.images.append(a)
        elif tag in ("a", "link"):
            self.links.append(a.get("href", ""))
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._stack and self._stack[-1]["rows"]:
            self._stack[-1]["rows"][-1]["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table(self, cls: str) -> dict:
        return next(t for t in self.tables if cls in t["class"].split())


def _self_contained(text: str) -> None:
    page = Page(text)
    assert page.scripts == 0
    assert all(img["src"].startswith("data:image/") for img in page.images)
    assert page.urls and all(u.startswith(("data:", "#")) for u in page.urls), [
        u for u in page.urls if not u.startswith(("data:", "#"))
    ]
    style = text[text.index("<style>") : text.index("</style>")]
    assert "url(" not in style and "@import" not in style


# --- results made by a real (small) pipeline -------------------------------------------------------


@pytest.fixture(scope="module")
def results(original_run, retrained_run, tmp_path_factory):
    """`compare` of two cheap methods on the digits models, plus the files the sweep and audit commands write."""
    out = tmp_path_factory.mktemp("results")
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
            "neggrad,finetune",
            "--name",
            "cmp",
            "--results-dir",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    # what `langevin-unlearn demo` writes, by the functions it calls, from the same models, with two cheap methods in place of its two
    setup = load_setup(original_run[0], "class:3", retrain=retrained_run[0])
    rows = compare(setup, ["neggrad", "random-label"], [0], progress=False)
    write_csv(out / "demo.csv", [{"name": "demo", "forget": "class:3", "seeds": "0", **r} for r in rows])
    runs = {"original": original_run[0], "retrain": retrained_run[0]}
    write_compare(out, "demo", rows, setup, [0], command="demo", paths=runs, methods=["neggrad", "random-label"])
    per_class_plot(
        [{"model": r["method"], "per_class_acc": r["per_class_acc"]} for r in rows],
        setup.data.classes,
        out / "demo.png",
        title="digits: per-class test accuracy after forgetting class:3",
    )
    return out


def _add_sweep_and_audit(out: Path, name: str = "cmp") -> None:
    """Files in the layout the sweep and audit commands write (their numbers made up here: only the report is tested)."""
    folder = out / name
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    shutil.copy(_any_png(out), folder / "plots" / "heatmaps_gamma_vs_lr.png")
    shutil.copy(_any_png(out), folder / "epsilon_hist.png")
    con = sqlite3.connect(folder / "sweep.sqlite")
    con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('method', 'langevin')")
    con.execute(
        "CREATE TABLE runs (key TEXT PRIMARY KEY, method TEXT, settings TEXT, seed INTEGER, metrics TEXT, error TEXT, finished_at REAL)"
    )
    for i, distance in enumerate([0.4, 0.05, None, 0.2]):
        metrics = {"forget_acc": 0.1 * i, "distance": distance if distance is not None else math.nan}
        con.execute(
            "INSERT INTO runs VALUES (?, 'langevin', ?, 0, ?, NULL, 0)",
            (f"k{i}", json.dumps({"gamma": 10.0**-i, "lr": 1e-3}), json.dumps(metrics)),
        )
    con.execute("CREATE TABLE trials (key TEXT, gap REAL)")
    con.executemany("INSERT INTO trials VALUES (?, ?)", [("t0", 0.3), ("t1", None), ("t2", 0.1)])
    con.commit()
    con.close()
    with open(folder / "audit_examples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", "index", "label", "epsilon", "lira_auc"])
        for i in range(40):
            w.writerow(["forget" if i < 20 else "remain", i, 3, 0.1 * i, 0.5])
    (folder / "audit.json").write_text(
        json.dumps(
            {
                "name": name,
                "method": "neggrad",
                "delta": 1e-5,
                "table": [{"model": "neggrad", "F": 0.31, "F_95": "0.2-0.4"}],
            }
        )
    )


def _any_png(out: Path) -> Path:
    from langevin_unlearning.report.figures import per_class_figure

    png = out / "_tiny.png"
    if not png.exists():
        png.write_bytes(per_class_figure([("a", [1.0, 0.5])], ["0", "1"]))
    return png


@pytest.mark.slow
def test_compare_writes_provenance_and_per_class(results, original_run, retrained_run, forget_split):
    prov = json.loads((results / "cmp.provenance.json").read_text())
    assert {"python", "torch", "langevin_unlearning", "platform", "device_name", "torch_threads"} <= set(
        prov["versions"]
    )
    assert prov["seeds"] == [0] and prov["methods"] == ["neggrad", "finetune"]
    sidecars = {
        k: json.loads((Path(run[0]) / "model.json").read_text())
        for k, run in (("original", original_run), ("retrain", retrained_run))
    }
    for k, meta in sidecars.items():
        assert prov["models"][k]["weights_sha256"] == meta["weights_sha256"]
    assert prov["forget"]["train_indices_sha256"] == index_digest(torch.sort(forget_split.train_forget).values)
    assert prov["forget"]["train_images"] == len(forget_split.train_forget)
    rows = {r["method"]: r for r in csv.DictReader(open(results / "cmp.csv"))}
    per_class = {m: [float(v) for v in r["per_class_acc"].split()] for m, r in rows.items()}
    assert all(len(v) == 10 for v in per_class.values())
    # the retrained model never saw class 3; the original did
    assert per_class["retrain (target)"][3] < 0.2 < 0.8 < per_class["original"][3]


@pytest.mark.slow
def test_report_holds_the_table_images_and_provenance(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out)
    _add_sweep_and_audit(out)
    path = write_report("cmp", out)
    assert path == out / "cmp.html"
    text = path.read_text()
    _self_contained(text)
    page = Page(text)
    compare = page.table("compare")
    labels = [row["cells"][0] for row in compare["rows"][1:]]
    assert labels == ["original", "retrain (target)", "neggrad", "finetune"]
    target = [row for row in compare["rows"] if row["cells"][0] == "retrain (target)"]
    assert target[0]["class"] == "target" and all(
        row["class"] != "target" for row in compare["rows"] if row not in target
    )
    gap = compare["rows"][0]["cells"].index("gap (pp)")
    assert target[0]["cells"][gap] == "0.00" and target[0]["cells"][1] == "target"
    # per-class bars, the epsilon histogram drawn here, the sweep's heatmap and the audit's figure, each with a caption
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", text)
    assert len(page.images) == 4 and {"cmp/plots/heatmaps_gamma_vs_lr.png", "cmp/epsilon_hist.png"} <= set(captions)
    assert any("per-class" in c for c in captions) and any("epsilon histogram" in c for c in captions)
    sweep_part = text[text.index('id="sweep"') : text.index('id="audit"')]
    assert "heatmaps_gamma_vs_lr.png" in sweep_part and "epsilon_hist.png" in text[text.index('id="audit"') :]
    # the sweep's runs: one column per varying setting, lowest distance first, a missing one last
    runs = [t for t in page.tables if t["rows"] and t["rows"][0]["cells"][:2] == ["method", "gamma"]][0]
    assert runs["rows"][0]["cells"] == ["method", "gamma", "seed", "forget_acc", "distance"]
    assert [row["cells"][1] for row in runs["rows"][1:]] == ["0.1", "0.001", "1", "0.01"]
    trials = [t for t in page.tables if t["rows"] and t["rows"][0]["cells"] == ["key", "gap"]][0]
    assert [row["cells"][0] for row in trials["rows"][1:]] == ["t2", "t0", "t1"]
    # the audit's own summary table and the drawn histogram's statistics
    assert "F_95" in text and "0.2-0.4" in text and "neggrad" in text[text.index('id="audit"') :]
    for section in ('id="compare"', 'id="per-class"', 'id="sweep"', 'id="audit"', 'id="provenance"'):
        assert section in text
    assert 'id="absent"' not in text
    prov = json.loads((out / "cmp.provenance.json").read_text())
    assert prov["models"]["original"]["weights_sha256"] in text and prov["forget"]["train_indices_sha256"] in text


# --- structure, escaping and errors (no training, fast) ---------------------------------------------


def _table_only(out: Path, name: str, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)


BASE = {
    "seeds": "1",
    "forget_acc": "0.5",
    "remain_acc": "0.9",
    "mia": "0.5",
    "gap": "0.1",
    "error": "",
    "per_class_acc": "0.9 0.1",
}


def test_values_are_escaped(tmp_path):
    evil = "<b>evil</b> & <i>co</i>"
    rows = [
        {**BASE, "method": "retrain (target)", "gap": "0"},
        {**BASE, "method": evil, "error": "<script>alert(1)</script>", "forget_acc": "nan"},
    ]
    _table_only(tmp_path, "x", rows)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "audit.json").write_text(json.dumps({"<k>": "</td></table><img src=http://example.com/a.png>"}))
    text = render_report("x", tmp_path)
    _self_contained(text)
    assert "<b>evil" not in text and "<script>" not in text and "<k>" not in text
    assert (
        "&lt;b&gt;evil&lt;/b&gt; &amp; &lt;i&gt;co&lt;/i&gt;" in text
        and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    )
    page = Page(text)
    compare = page.table("compare")
    assert [row["cells"][0] for row in compare["rows"][1:]] == ["retrain (target)", evil]
    assert compare["rows"][2]["class"] == "failed" and compare["rows"][2]["cells"][-1] == "<script>alert(1)</script>"
    assert compare["rows"][2]["cells"][1] == "failed" and compare["rows"][2]["cells"][2] == "-"  # role; a NaN cell
    assert (
        compare["rows"][1]["class"] == "target"
        and "highlighted row" in text
        and "Comparison with the retrained model" in text
    )
    assert "$" not in re.sub(r"data:[^\"]*", "", text).replace("$ ", "")  # every template field filled


def test_seed_spread_and_within_noise_marks(tmp_path):
    target = {**BASE, "method": "retrain (target)", "seeds": "1", "forget_acc": "0.45"}
    with_ci = {
        **BASE,
        "method": "a",
        "seeds": "3",
        "forget_acc_ci95_low": "0.4",
        "forget_acc_ci95_high": "0.6",
        "forget_acc_seed_std": "0.05",
        "remain_acc_seed_std": "0.02",
        "within_noise": "forget_acc",
    }
    _table_only(tmp_path, "s", [target, with_ci])
    text = render_report("s", tmp_path)
    rows = Page(text).table("compare")["rows"]
    forget, remain = rows[0]["cells"].index("forget (%)"), rows[0]["cells"].index("remain (%)")
    assert rows[2]["cells"][forget] == "50.0 ± 10.0 ≈"  # the 95% interval's half-width; the target lies inside it
    assert rows[2]["cells"][remain] == "90.0 ± 2.0"  # no interval recorded: the std across seeds
    assert rows[1]["cells"][forget] == "45.0"  # one seed: no spread
    assert [r["cells"][1] for r in rows[1:]] == ["target", ""]  # the role column
    assert "95% t-interval" in text and "within seed noise" in text


def test_only_a_table_lists_what_is_absent(tmp_path):
    _table_only(
        tmp_path,
        "t",
        [
            {**BASE, "method": "langevin", "seed": "0"},
            {**BASE, "method": "langevin", "seed": "1"},
            {**BASE, "method": "finetune"},
        ],
    )
    text = render_report("t", tmp_path)
    _self_contained(text)
    page = Page(text)
    # rows `unlearn` appended for the same method are told apart
    assert [row["cells"][0] for row in page.table("compare")["rows"][1:]] == [
        "langevin · seed 0",
        "langevin · seed 1",
        "finetune",
    ]
    assert 'id="absent"' in text and "no sweep" in text and "no provenance" in text and "no per-example audit" in text
    assert (
        "highlighted row" not in text and "Results table" in text
    )  # no target row in this table, so no legend for one
    assert len(page.images) == 1  # the per-class plot from per_class_acc


def test_many_models_get_a_per_class_heatmap(tmp_path):
    from langevin_unlearning.report.figures import MAX_BARS_MODELS

    rows = [{**BASE, "method": f"m{i}", "per_class_acc": f"{i / 10} 1 0.5"} for i in range(MAX_BARS_MODELS + 2)]
    _table_only(tmp_path, "many", rows)
    page = Page(render_report("many", tmp_path))
    per_class = [t for t in page.tables if t["rows"][0]["cells"] == ["model \\ class (%)", "0", "1", "2"]][0]
    assert [row["cells"][1] for row in per_class["rows"][1:3]] == ["0.0", "10.0"] and len(per_class["rows"]) == len(
        rows
    ) + 1
    assert len(page.images) == 1


def test_images_anywhere_in_the_folder_are_embedded(tmp_path):
    nested = tmp_path / "img" / "deep" / "er"
    nested.mkdir(parents=True)
    png = _any_png(tmp_path)
    shutil.copy(png, nested / "pareto.png")
    shutil.copy(png, tmp_path / "img.png")
    text = render_report("img", tmp_path)
    _self_contained(text)
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", text)
    assert captions == ["img.png", "img/deep/er/pareto.png"]
    assert 'id="compare"' not in text and "no comparison table" in text


def test_unreadable_files_are_reported_not_fatal(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "audit.json").write_text("{not json")
    (tmp_path / "bad" / "sweep.sqlite").write_bytes(b"this is not a database" * 10)
    with pytest.warns(InputWarning) as caught:
        text = render_report("bad", tmp_path)
    assert "could not read bad/audit.json" in text and "could not read bad/sweep.sqlite" in text
    assert sorted(str(w.message).split(":")[0] for w in caught) == ["could not read bad/audit.json"] + [
        "could not read bad/sweep.sqlite"
    ]


def test_report_on_unreadable_inputs_prints_one_warning_line_each_and_exits_0(tmp_path, capsys):
    _table_only(tmp_path, "bad", [{**BASE, "method": "m"}])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "audit.json").write_text("{not json")
    (tmp_path / "bad" / "audit_examples.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    (tmp_path / "bad.provenance.json").write_text("[1, 2]")
    assert main(["report", "bad", "--results-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    warned = [line for line in err if line.startswith("warning: could not read")]
    assert len(warned) == 3, err
    for name in ("bad/audit.json", "bad/audit_examples.csv", "bad.provenance.json"):
        assert sum(name in line for line in warned) == 1, (name, err)
    assert all(line.endswith("the report leaves it out") for line in warned)


@pytest.mark.parametrize("name", ["nope", "../etc", ""])
def test_unknown_name_is_one_line_exit_2(tmp_path, capsys, name):
    _table_only(tmp_path, "known", [{**BASE, "method": "m"}])
    assert main(["report", name, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    if name == "nope":
        assert "known: known" in err
    assert main(["report", "x", "--results-dir", str(tmp_path / "missing")]) == 2


def test_cli_out_flag(tmp_path, capsys):
    _table_only(tmp_path, "m", [{**BASE, "method": "m"}])
    assert main(["report", "m", "--results-dir", str(tmp_path), "--out", str(tmp_path / "sub" / "page.html")]) == 0
    assert (tmp_path / "sub" / "page.html").read_text().startswith("<!doctype html>")
    assert "page.html" in capsys.readouterr().out


def test_template_ships_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "template.html" in config["tool"]["setuptools"]["package-data"]["langevin_unlearning.report"]
    assert (ROOT / "src/langevin_unlearning/report/template.html").is_file()


# --- a real browser (tests/browser.py drives it) ------------------------------------------------


DOM_CHECK = """JSON.stringify({
  compare: !!document.querySelector('table.compare'),
  target: [...document.querySelectorAll('table.compare tr.target td.label')].map(td => td.textContent),
  rows: document.querySelectorAll('table.compare tbody tr').length,
  images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth})),
  title: document.title,
  resources: performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:')),
})"""


@pytest.mark.slow
@pytest.mark.parametrize("name, rows, images", [("cmp", 4, 4), ("demo", 4, 2)])
def test_opens_in_headless_chromium_without_errors(results, tmp_path, name, rows, images):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs Debian's chromium via .ci/run)")
    out = tmp_path / "results"
    shutil.copytree(results, out)
    _add_sweep_and_audit(out)
    value, errors = open_in_chromium(write_report(name, out), tmp_path / "profile", DOM_CHECK)
    dom = json.loads(value)
    assert errors == []
    assert dom["compare"] and dom["target"] == ["retrain (target)"] and dom["rows"] == rows
    assert len(dom["images"]) == images and all(i["ok"] and i["width"] > 100 for i in dom["images"])
    assert dom["title"] == f"Unlearning report: {name}" and dom["resources"] == []


DEMO_CHECK = """JSON.stringify({
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  headers: [...document.querySelectorAll('table.compare th')].map(th => th.textContent),
  best: document.querySelectorAll('table.compare td.best').length,
  absent: [...document.querySelectorAll('ul.absent li')].map(li => li.textContent),
})"""


@pytest.mark.slow
def test_the_demo_report_has_every_section_as_rendered(results, tmp_path):
    """What `make demo` leaves behind makes a page with the table (gap column, best method marked), the per-class
    chart and the provenance; only the sweep and the audit, which the demo does not run, are listed as absent."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs Debian's chromium via .ci/run)")
    shot = tmp_path / "demo-report.png"
    value, errors = open_in_chromium(write_report("demo", results), tmp_path / "profile", DEMO_CHECK, screenshot=shot)
    dom = json.loads(value)
    assert errors == []
    assert {"compare", "per-class", "provenance"} <= set(dom["sections"])
    assert any("gap" in h.lower() for h in dom["headers"]) and dom["best"] == 1
    assert all("sweep" in a or "audit" in a for a in dom["absent"]) and len(dom["absent"]) == 2
    image = plt_imread(shot)
    assert image.shape[1] > 1100 and image.shape[0] > 900  # the whole page at 1200 px, not one screen


def plt_imread(path: Path):
    import matplotlib.image

    return matplotlib.image.imread(path)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_browser_check_can_fail(tmp_path):
    """The console check sees a script error and a missing image (so a clean report is a real result)."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!doctype html><link rel="icon" href="data:,"><img src="missing.png"><script>undefinedFunction()</script>'
    )
    _, errors = open_in_chromium(bad, tmp_path / "profile")
    assert any("undefinedFunction" in e for e in errors) and any("missing.png" in e for e in errors)
