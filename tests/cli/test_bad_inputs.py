"""Bad input, table-driven, across every command: exit status 2, exactly one line on stderr, no traceback,
and no file created or changed anywhere (the working folder and the input runs are snapshotted)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from langevin_unlearning.cli import main
from langevin_unlearning.cli.legacy import main as legacy_main

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
    }


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
