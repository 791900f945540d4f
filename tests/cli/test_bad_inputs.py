"""Bad input, table-driven, across every command: exit status 2, exactly one line on stderr, no traceback,
and no file created or changed anywhere (the working folder and the input runs are snapshotted)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from langevin_unlearning.cli import main
from langevin_unlearning.cli.legacy import main as legacy_main
from langevin_unlearning.experiments.bank import recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, original_run, retrained_run):
    """Input files every case may point at (made once): good runs, doctored runs, odd index files."""
    d = tmp_path_factory.mktemp("inputs")
    orig, ret = original_run[0], retrained_run[0]

    def doctored(name, source, edit):
        run = d / name
        shutil.copytree(source, run)
        meta = json.loads((run / "model.json").read_text())
        (run / "model.json").write_text(json.dumps(edit(meta)))
        return run

    def set_(meta, path, value):
        *head, last = path
        t = meta
        for k in head:
            t = t[k]
        t[last] = value
        return meta

    runs = {
        "orig": orig,
        "ret": ret,
        "list_sidecar": doctored("list_sidecar", orig, lambda m: [1, 2, 3]),
        "no_hash": doctored("no_hash", orig, lambda m: {k: v for k, v in m.items() if k != "weights_sha256"}),
        "no_model": doctored("no_model", orig, lambda m: {k: v for k, v in m.items() if k != "model"}),
        "ret_size16": doctored("ret_size16", ret, lambda m: set_(m, ["data", "image_size"], 16)),
        "ret_classes": doctored("ret_classes", ret, lambda m: set_(m, ["classes"], list("abcdefghij"))),
        "ret_norm": doctored("ret_norm", ret, lambda m: set_(m, ["model", "mean"], [0.9])),
        "orig_changed_data": doctored(
            "orig_changed_data", orig, lambda m: set_(m, ["data_fingerprint", "train", "count"], 1500)
        ),
        "orig_relabelled": doctored(
            "orig_relabelled", orig, lambda m: set_(m, ["data_fingerprint", "test", "labels_sha256"], "0" * 64)
        ),
    }
    runs["bad_utf8_sidecar"] = doctored("bad_utf8_sidecar", orig, lambda m: m)
    (Path(runs["bad_utf8_sidecar"]) / "model.json").write_bytes(b'{"model": "\xff"}')
    runs["bad_json_sidecar"] = doctored("bad_json_sidecar", orig, lambda m: m)
    (Path(runs["bad_json_sidecar"]) / "model.json").write_text('{"model": ')

    def bank(name, edit=lambda info: info, raw=None):
        """A bank of one member (the retrained run as seed 0) whose bank.json is ``edit``ed or ``raw``."""
        folder = d / "banks" / name
        shutil.copytree(ret, folder / "seed-0000")
        info = {"original": str(orig), "forget": "class:3", "recipe": recipe(orig), "seeds": [0]}
        (folder / "bank.json").write_text(raw if raw is not None else json.dumps(edit(info)))
        return folder

    runs |= {
        "bank_other_spec": bank("other_spec", lambda info: {**info, "forget": "class:4"}),
        "bank_other_recipe": bank(
            "other_recipe", lambda info: {**info, "recipe": {**info["recipe"], "train": {"epochs": 99}}}
        ),
        "bank_bad_json": bank("bad_json", raw="{oops"),
        "bank_list": bank("list", raw="[1, 2]"),
        "bank_seeds_text": bank("seeds_text", lambda info: {**info, "seeds": "0..3"}),
        "bank_no_recipe_model": bank(
            "no_recipe_model",
            lambda info: {**info, "recipe": {k: v for k, v in info["recipe"].items() if k != "model"}},
        ),
    }
    runs["bank_ok"] = bank("ok")
    runs["bank_other_original"] = bank(
        "other_original", lambda info: {**info, "recipe": {**info["recipe"], "original_weights_sha256": "0" * 64}}
    )
    class4 = Path(bank("class4", lambda info: {**info, "forget": "class:4"})) / "seed-0000" / "model.json"
    class4.write_text(json.dumps({**json.loads(class4.read_text()), "forget": "class:4"}))
    runs["bank_class4"] = class4.parent.parent
    member = Path(bank("member_other_recipe")) / "seed-0000" / "model.json"
    member.write_text(json.dumps({**json.loads(member.read_text()), "train": {"epochs": 99}}))
    runs["bank_member_other_recipe"] = member.parent.parent
    sweeps = d / "sweeps"
    for name, statements in {
        "foreign": ["CREATE TABLE mine (x)", "CREATE TABLE runs (a)"],
        "columns": ["CREATE TABLE runs (a)"],
    }.items():
        (sweeps / name).mkdir(parents=True)
        con = sqlite3.connect(sweeps / name / "sweep.sqlite")
        for statement in statements:
            con.execute(statement)
        con.commit()
        con.close()
    (sweeps / "text").mkdir()
    (sweeps / "text" / "sweep.sqlite").write_text("not a database\n")
    (d / "progress").mkdir()
    (d / "progress" / ".c.compare.json").write_text('{"identity": {}, "rows": [1]}')
    (d / "progress" / ".list.compare.json").write_text("[]")
    med = d / "med"
    med.mkdir()
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 9, (n, 1), dtype=np.uint8)  # noqa: E731
    np.savez(
        med / "pathmnist.npz",
        train_images=images(50),
        train_labels=labels(40),
        val_images=images(5),
        val_labels=labels(5),
        test_images=images(20),
        test_labels=labels(20),
    )
    np.savez(
        med / "bloodmnist.npz",
        train_images=images(50),
        train_labels=np.array(["a"] * 50),
        val_images=images(5),
        val_labels=labels(5),
        test_images=images(20),
        test_labels=labels(20),
    )
    (med / "dermamnist.npz").write_text("<html>404 not found</html>")
    (d / "binary.txt").write_bytes(b"\x00\x01\x02\xff\xfe")
    (d / "arabic.txt").write_text("1\n\u0663\n", encoding="utf-8")
    (d / "huge.txt").write_text("1\n99999999999999999999999\n")
    (d / "latin1.txt").write_bytes(b"1\n\xe9\n")
    (d / "a_file").write_text("not a folder")
    (d / "notes").mkdir()
    (d / "notes" / "mine.txt").write_text("keep me")
    (d / "results").mkdir()
    (d / "results" / "foreign.csv").write_text("foo;bar\n1;2\n")
    (d / "results" / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    return {k: str(v) for k, v in runs.items()} | {"dir": str(d)}


def U(*extra, **kw):
    """unlearn with good defaults; extra flags override."""

    def argv(i):
        base = [
            "unlearn",
            "--original",
            i["orig"],
            "--retrain",
            i["ret"],
            "--forget",
            "class:3",
            "--name",
            kw.get("name", "u").format(**i),
            "--results-dir",
            kw.get("results", "results").format(**i),
            "--runs-dir",
            kw.get("runs", "runs").format(**i),
            "--no-progress",
            "--epochs",
            "1",
        ]
        return base + [a.format(**i) for a in extra]

    return argv


def C(*extra):
    return lambda i: [
        "compare",
        "--original",
        i["orig"],
        "--retrain",
        i["ret"],
        "--forget",
        "class:3",
        "--name",
        "c",
        "--no-progress",
        *[a.format(**i) for a in extra],
    ]


def T(*extra):
    return lambda i: [
        "train",
        "--out",
        "t",
        "--epochs",
        "1",
        "--width",
        "0.1",
        "--no-progress",
        *[a.format(**i) for a in extra],
    ]


def E(*extra, model="{orig}", reference="{ret}"):
    return lambda i: [
        "evaluate",
        "--model",
        model.format(**i),
        "--forget",
        "class:3",
        "--reference",
        reference.format(**i),
        *[a.format(**i) for a in extra],
    ]


def A(bank):
    return lambda i: ["audit", "--bank", i[bank], "--method", "langevin", "--n", "4", "--name", "a", "--no-progress"]


def B(bank, *extra, forget="class:3"):
    return lambda i: ["bank", "--original", i["orig"], "--forget", forget, "--n", "1", "--out", i[bank], *extra]


def S(name):
    return lambda i: [
        "sweep",
        "--original",
        i["orig"],
        "--retrain",
        i["ret"],
        "--forget",
        "class:3",
        "--grid",
        "gamma=0.1",
        "--seeds",
        "1",
        "--name",
        name,
        "--results-dir",
        i["dir"] + "/sweeps",
        "--no-progress",
    ]


def SA(bank, *extra):
    """A sweep with the audit objective against ``bank`` (None: no --bank)."""

    def argv(i):
        out = S("audited")(i)[:-1]
        at = out.index("--seeds")
        return out[:at] + out[at + 2 :]

    return lambda i: [
        *argv(i),
        "--objective",
        "audit",
        *(["--bank", i[bank]] if bank else []),
        *extra,
        "--no-progress",
    ]


def L(*extra):
    return lambda i: ["LEGACY", "--data_name", "digits", "--no_progress", *[a.format(**i) for a in extra]]


CASES = [
    # train: numbers
    ("train-lr-nan", T("--lr", "nan"), "--lr must be a finite number"),
    ("train-lr-inf", T("--lr", "inf"), "--lr must be a finite number"),
    ("train-lr-zero", T("--lr", "0"), "--lr must be a positive number"),
    ("train-momentum-1", T("--momentum", "1"), "--momentum must be in [0, 1)"),
    ("train-momentum-nan", T("--momentum", "nan"), "--momentum must be a finite"),
    ("train-weight-decay-inf", T("--weight-decay=-inf"), "--weight-decay must be a finite"),
    ("train-width-nan", T("--width", "nan"), "--width must be a finite"),
    ("train-width-zero", T("--width", "0"), "--width must be a positive"),
    ("train-image-size-4", T("--image-size", "4"), "--image-size must be an integer >= 8"),
    ("train-seed-negative", T("--seed=-1"), "--seed must be an integer in [0, 2**32)"),
    ("train-seed-too-big", T("--seed", "4294967296"), "--seed must be an integer in [0, 2**32)"),
    ("train-epochs-0", T("--epochs", "0"), "--epochs must be at least 1"),
    ("train-batch-0", T("--batch-size", "0"), "--batch-size must be at least 1"),
    ("train-not-a-number", T("--lr", "fast"), "invalid float value"),
    ("train-unknown-flag", T("--bogus"), "unrecognized arguments: --bogus"),
    # train: paths and data
    ("train-out-holds-other-files", T("--out", "{dir}/notes"), "holds other files (mine.txt)"),
    ("train-out-is-a-file", T("--out", "{dir}/a_file"), "is a file"),
    ("train-unknown-dataset", T("--dataset", "imagenet"), "unknown dataset 'imagenet'"),
    ("train-data-dir-missing", T("--data-dir", "missing-data"), "--data-dir missing-data does not exist; create it"),
    ("unlearn-data-dir-missing", U("--data-dir", "missing-data"), "--data-dir missing-data does not exist; create it"),
    ("train-forget-arabic-digit", T("--forget", "class:\u0663"), "bad forget spec"),
    ("train-indices-binary", T("--forget", "indices:{dir}/binary.txt"), "binary file"),
    ("train-indices-non-ascii-digits", T("--forget", "indices:{dir}/arabic.txt"), "arabic.txt:2"),
    ("train-indices-beyond-int64", T("--forget", "indices:{dir}/huge.txt"), "larger than int64"),
    ("train-indices-not-utf8", T("--forget", "indices:{dir}/latin1.txt"), "not UTF-8"),
    ("train-exclude-without-forget", T("--exclude-forget"), "needs --forget"),
    # unlearn: names and outputs
    ("unlearn-name-traversal", U(name="../escape"), "must be a plain name"),
    ("unlearn-name-separator", U(name="a/b"), "must be a plain name"),
    ("unlearn-name-dotdot", U(name=".."), "must be a plain name"),
    ("unlearn-name-empty", U(name=""), "--name is empty"),
    ("unlearn-name-is-a-folder-of-other-files", U("--runs-dir", "{dir}", name="notes"), "holds other files (mine.txt)"),
    (
        "unlearn-overwrites-input",
        lambda i: U(name=Path(i["orig"]).name, runs=str(Path(i["orig"]).parent))(i),
        "would overwrite the input model",
    ),
    ("unlearn-results-dir-is-file", U(results="{dir}/a_file"), "--results-dir"),
    ("unlearn-foreign-csv", U(name="foreign", results="{dir}/results"), "not a langevin-unlearn results table"),
    ("unlearn-binary-csv", U(name="binary", results="{dir}/results"), "binary file"),
    # unlearn: numbers
    ("unlearn-gamma-nan", U("--gamma", "nan"), "--gamma must be a finite number"),
    ("unlearn-lamda-inf", U("--lamda", "inf"), "--lamda must be a finite number"),
    ("unlearn-phi-nan", U("--phi", "nan"), "--phi must be a finite number"),
    ("unlearn-eps-nan", U("--eps", "nan"), "--eps must be a finite number"),
    ("unlearn-alpha-zero", U("--alpha", "0"), "--alpha must be a positive number"),
    ("unlearn-lr-inf", U("--lr", "inf"), "--lr must be a finite number"),
    ("unlearn-momentum-1", U("--momentum", "1.5"), "unrecognized arguments"),
    ("unlearn-seed-negative", U("--seed=-5"), "--seed must be an integer in [0, 2**32)"),
    ("unlearn-top-k-zero", U("--soft-labels", "--top-k", "0"), "--top-k must be at least 1"),
    # unlearn: inputs that must agree
    ("unlearn-reference-not-retrained", U("--retrain", "{orig}"), "is an original model"),
    ("unlearn-swapped-pair", U("--original", "{ret}", "--retrain", "{orig}"), "did you swap"),
    ("unlearn-image-size-differs", U("--retrain", "{ret_size16}"), "image size native vs 16"),
    ("unlearn-class-names-differ", U("--retrain", "{ret_classes}"), "class names"),
    ("unlearn-normalization-differs", U("--retrain", "{ret_norm}"), "normalization mean"),
    ("unlearn-sidecar-is-a-list", U("--original", "{list_sidecar}"), "holds a JSON list, not an object"),
    ("unlearn-sidecar-without-hash", U("--original", "{no_hash}"), "lacks weights_sha256"),
    ("unlearn-sidecar-without-model", U("--original", "{no_model}"), "lacks model"),
    ("unlearn-data-changed", U("--original", "{orig_changed_data}"), "the train split had 1500 images, now"),
    ("unlearn-wrong-forget", U("--forget", "class:4"), "left out 'class:3', but --forget is 'class:4'"),
    # compare
    ("compare-seeds-zero", C("--seeds", "0"), "--seeds must be between 1 and 10000"),
    ("compare-seed-range", C("--seed", "4294967295", "--seeds", "2"), "goes past 4294967295"),
    ("compare-name-traversal", C("--name", "../../x"), "must be a plain name"),
    ("compare-unknown-method", C("--methods", "langevin,nope"), "unknown method 'nope'"),
    ("compare-reference-not-retrained", C("--retrain", "{orig}"), "is an original model"),
    ("compare-swapped", C("--original", "{ret}", "--retrain", "{orig}"), "did you swap"),
    (
        "compare-foreign-csv",
        C("--name", "foreign", "--results-dir", "{dir}/results"),
        "not a langevin-unlearn results table",
    ),
    # evaluate
    ("evaluate-reference-not-retrained", E(reference="{orig}"), "--reference is an original model"),
    ("evaluate-seed-negative", E("--seed=-1"), "--seed must be an integer in [0, 2**32)"),
    ("evaluate-list-sidecar", E(model="{list_sidecar}"), "holds a JSON list"),
    ("evaluate-relabelled-data", E(model="{orig_relabelled}"), "the test labels changed"),
    ("evaluate-reference-size-differs", E(reference="{ret_size16}"), "image size native vs 16"),
    # inspect, datasets, demo
    ("inspect-missing", lambda i: ["inspect", i["dir"] + "/nothing"], "not found"),
    ("inspect-list-sidecar", lambda i: ["inspect", i["list_sidecar"]], "holds a JSON list"),
    ("inspect-no-model", lambda i: ["inspect", i["no_model"]], "lacks model"),
    ("datasets-image-size", lambda i: ["datasets", "--image-size", "2"], "--image-size must be an integer >= 8"),
    ("demo-seed-negative", lambda i: ["demo", "--seed=-1", "--no-progress"], "--seed must be an integer"),
    ("demo-out-is-a-file", lambda i: ["demo", "--out", i["dir"] + "/a_file", "--no-progress"], "is a file"),
    (
        "demo-results-dir-is-a-file",
        lambda i: ["demo", "--results-dir", i["dir"] + "/a_file", "--no-progress"],
        "--results-dir",
    ),
    # files the toolkit reads back: validated, one line naming the file and the fix
    ("inspect-sidecar-not-utf8", lambda i: ["inspect", i["bad_utf8_sidecar"]], "is not UTF-8 text"),
    ("inspect-sidecar-not-json", lambda i: ["inspect", i["bad_json_sidecar"]], "is not valid JSON"),
    ("audit-bank-json-of-another-spec", A("bank_other_spec"), "records a bank forgetting 'class:4', but seed-0000"),
    ("audit-bank-json-of-another-recipe", A("bank_other_recipe"), "holds another recipe (train differ)"),
    ("audit-bank-json-not-json", A("bank_bad_json"), "bank.json (a bank's record) is not valid JSON"),
    ("audit-bank-json-a-list", A("bank_list"), "holds a JSON list, not an object"),
    ("audit-bank-json-seeds-text", A("bank_seeds_text"), "has a string for seeds, not a list"),
    ("audit-bank-json-recipe-lacks-model", A("bank_no_recipe_model"), "lacks recipe.model"),
    (
        "bank-members-of-another-spec-not-replaced",
        B("bank_other_spec", forget="class:4"),
        "holds a model retrained without 'class:3', not 'class:4'; pass another --out, or --replace",
    ),
    ("bank-json-of-another-recipe", B("bank_other_recipe"), "(another recipe or original weights); pass another"),
    (
        "bank-members-of-another-recipe-not-replaced",
        B("bank_member_other_recipe"),
        "seed-0000 holds another recipe (train differ); pass another --out, or --replace",
    ),
    ("bank-json-not-json", B("bank_bad_json"), "is not valid JSON"),
    ("sweep-store-other-tables", S("foreign"), "holds other tables: mine"),
    ("sweep-audit-without-bank", SA(None), "--objective audit needs --bank BANK_DIR"),
    (
        "sweep-audit-bank-of-another-forget-spec",
        SA("bank_class4"),
        "retrained without 'class:4', but the sweep forgets",
    ),
    ("sweep-audit-bank-of-another-original", SA("bank_other_original"), "was built from another original model"),
    ("sweep-audit-n-below-4", SA("bank_ok", "--audit-n", "2"), "--audit-n must be at least 4"),
    (
        "sweep-audit-n-above-the-bank",
        SA("bank_ok", "--audit-n", "4"),
        "holds 1 retrained models but --audit-n 4 needs 4",
    ),
    ("sweep-store-other-columns", S("columns"), "its runs table has the columns a"),
    ("sweep-store-not-sqlite", S("text"), "is not a readable sweep store"),
    (
        "sweep-plot-store-other-tables",
        lambda i: ["sweep-plot", "--x", "gamma", "--y", "lamda", "--results-dir", i["dir"] + "/sweeps", "foreign"],
        "holds other tables: mine",
    ),
    ("compare-progress-row-not-object", C("--results-dir", "{dir}/progress"), "row 1 holds a JSON integer"),
    (
        "compare-progress-a-list",
        C("--results-dir", "{dir}/progress", "--name", "list"),
        "holds a JSON list, not an object; delete it",
    ),
    (
        "train-medmnist-counts-disagree",
        T("--dataset", "medmnist:pathmnist", "--data-dir", "{dir}/med"),
        "has 50 train images but 40 train labels",
    ),
    (
        "train-medmnist-not-npz",
        T("--dataset", "medmnist:dermamnist", "--data-dir", "{dir}/med"),
        "is not a valid .npz file",
    ),
    ("train-medmnist-text-labels", T("--dataset", "medmnist:bloodmnist", "--data-dir", "{dir}/med"), "not integers"),
    ("train-out-empty", T("--out", ""), "names no run folder"),
    ("train-out-dot", T("--out", "."), "names no run folder"),
    # main.py (the original command line): its own flag names
    ("legacy-epoch-zero", L("--train", "--epoch", "0"), "--epoch must be at least 1"),
    ("legacy-batch-size-zero", L("--train", "--batch_size", "0"), "--batch_size must be at least 1"),
    ("legacy-lr-nan", L("--train", "--lr", "nan"), "--lr must be a finite"),
    ("legacy-model-name", L("--train", "--model_name", "VGG"), "--model_name"),
    (
        "legacy-sgld-with-sota",
        L("--do_unlearning", "--sgld", "--use_sota", "--name", "x", "--original_model", "{orig}"),
        "--sgld and --use_sota conflict",
    ),
    (
        "legacy-name-traversal",
        L("--do_unlearning", "--sgld", "--name", "../x", "--original_model", "{orig}", "--forget_class", "3"),
        "must be a plain name",
    ),
    (
        "legacy-wrong-forget-class",
        L(
            "--do_unlearning",
            "--sgld",
            "--name",
            "x",
            "--original_model",
            "{orig}",
            "--retrain_model",
            "{ret}",
            "--forget_class",
            "4",
        ),
        "but --forget_class is 4",
    ),
    (
        "legacy-remain-reg-nan",
        L("--do_unlearning", "--sgld", "--name", "x", "--original_model", "{orig}", "--remain_reg", "nan"),
        "--remain_reg must be a finite",
    ),
    ("legacy-train-and-unlearn", L("--train", "--do_unlearning"), "cannot be combined"),
]


def snapshot(*folders) -> dict:
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.mark.parametrize("case, argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, argv, message, inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = argv(inputs)
    before = snapshot(tmp_path, inputs["dir"], inputs["orig"], inputs["ret"])
    code = legacy_main(args[1:]) if args[0] == "LEGACY" else main(args)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err and message in err, err
    assert snapshot(tmp_path, inputs["dir"], inputs["orig"], inputs["ret"]) == before


def test_there_are_at_least_40_cases_covering_every_command():
    assert len(CASES) >= 40
    assert {c[0].split("-")[0] for c in CASES} >= {
        "train",
        "unlearn",
        "compare",
        "evaluate",
        "inspect",
        "datasets",
        "demo",
        "legacy",
        "audit",
        "bank",
        "sweep",
    }


@pytest.fixture
def tiny_disk(tmp_path):
    """A 200 KiB tmpfs: too small for a model's weights (mounting needs root; skipped elsewhere)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {proc.stderr.decode(errors='replace').strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


TRAIN_WIDE = ["train", "--epochs", "1", "--width", "0.5", "--no-progress"]


def test_full_disk_while_saving_weights_is_one_line_and_leaves_nothing(tiny_disk, capsys):
    code = main([*TRAIN_WIDE, "--out", str(tiny_disk / "runs" / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: no space left on the device while writing") and "runs/x/model.safetensors" in err
    assert list(tiny_disk.iterdir()) == []  # no runs/ folder, no temporary folder


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, not a signal


def test_file_size_limit_names_the_file_and_the_limit(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "langevin_unlearning.cli", *TRAIN_WIDE, "--out", "runs/x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "runs/x/model.safetensors reached the file-size limit (`ulimit -f`" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "error, words",
    [
        (OSError(errno.EFBIG, "File too large", "r/model.json"), "r/model.json reached the file-size limit"),
        (MemoryError(), "out of memory while training x"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory while training x"),
    ],
)
def test_resource_errors_name_the_file_or_the_step(error, words, capsys):
    from langevin_unlearning.cli.guard import guarded
    from langevin_unlearning.core.errors import doing

    def command():
        with doing("training x"):
            raise error

    assert guarded(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv, message",
    [
        (["-m", "langevin_unlearning.cli", "train", "--out", "t", "--lr", "nan"], "--lr must be a finite number"),
        (
            [
                str(ROOT / "main.py"),
                "--do_unlearning",
                "--sgld",
                "--use_sota",
                "--name",
                "x",
                "--original_model",
                "y",
                "--data_name",
                "digits",
            ],
            "--sgld and --use_sota conflict",
        ),
        (
            ["-m", "langevin_unlearning.cli", "unlearn", "--original", "o", "--forget", "class:3", "--name", "../x"],
            "must be a plain name",
        ),
    ],
)
def test_bad_input_in_a_real_process(argv, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert (
        proc.returncode == 2
        and proc.stderr.count("\n") == 1
        and message in proc.stderr
        and "Traceback" not in proc.stderr
    )
    assert list(tmp_path.iterdir()) == []
