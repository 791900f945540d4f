"""Reference bank and per-example audit on digits: the original model is exposed, retrained models are not."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from langevin_unlearning.cli import main
from langevin_unlearning.core.digest import index_digest
from langevin_unlearning.data import parse_forget
from langevin_unlearning.engine.train import TrainConfig
from langevin_unlearning.experiments.audit import Auditor
from langevin_unlearning.experiments.bank import build_bank, member_dir
from langevin_unlearning.experiments.compare import within_noise_columns
from langevin_unlearning.experiments.training import train_run

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread (two spin against each other on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


N = 4  # models per side; the bank holds 2N so that N retrained models can be scored against N disjoint others


@pytest.fixture(scope="module")
def original(tmp_path_factory, digits):
    """A cheaper original than conftest's (4 epochs): the bank repeats its recipe 2N times."""
    out = tmp_path_factory.mktemp("runs") / "original"
    train_run(
        dataset="digits",
        model="allcnn",
        width=0.25,
        cfg=TrainConfig(epochs=4, lr=0.05, batch_size=64),
        out=out,
        forget="class:3",
        seed=0,
        progress=False,
        data=digits,
    )
    return out


@pytest.fixture(scope="module")
def bank(original, tmp_path_factory):
    out = tmp_path_factory.mktemp("bank") / "b"
    report = build_bank(original, "class:3", 2 * N, out=out, device="cpu", progress=False)
    assert report.trained == list(range(2 * N))
    return out


def test_bank_members_follow_the_original_recipe_and_leave_out_the_forget_set(bank, original, digits):
    info = json.loads((bank / "bank.json").read_text())
    assert info["seeds"] == list(range(2 * N)) and info["forget"] == "class:3"
    remain = parse_forget("class:3", digits, 0).train_remain
    seen_hashes = set()
    for s in range(2 * N):
        meta = json.loads((member_dir(bank, s) / "model.json").read_text())
        assert (
            meta["seed"] == s
            and meta["exclude_forget"]
            and meta["train"] == json.loads((original / "model.json").read_text())["train"]
        )
        assert meta["train_indices_sha256"] == index_digest(remain) and meta["accuracy"]["forget_acc"] == 0.0
        seen_hashes.add(meta["weights_sha256"])
    assert len(seen_hashes) == 2 * N  # different seeds, different models
    assert not list(bank.glob(".*tmp"))  # no temporary folders left behind


def test_bank_rerun_trains_only_missing_models(bank, original):
    again = build_bank(original, "class:3", 2 * N, out=bank, device="cpu", progress=False)
    assert again.trained == [] and again.seeds == list(range(2 * N))
    before = (member_dir(bank, 0) / "model.json").read_text()
    shutil.rmtree(member_dir(bank, 5))
    (member_dir(bank, 6) / "model.safetensors").unlink()  # an incomplete folder counts as missing
    again = build_bank(original, "class:3", 2 * N, out=bank, device="cpu", progress=False)
    assert again.trained == [5, 6] and again.seeds == list(range(2 * N))
    assert (member_dir(bank, 0) / "model.json").read_text() == before


def test_original_is_exposed_and_retrained_models_are_not(bank):
    auditor = Auditor(bank, N, remain_sample=50, bootstrap_rounds=20, progress=False)
    refs = auditor.references()
    original, floor = refs["original"], refs["retrain_vs_retrain"]
    # no unlearning: most forget examples have a high per-example epsilon and the score is low
    assert (
        original["forget"]["epsilon"]["median"] >= 5 and original["forget"]["F"] < 0.1 and original["final_score"] < 0.1
    )
    assert original["forget"]["lira_auc"]["mean"] > 0.9
    # retrained models scored against a disjoint part of the bank: clearly higher
    assert floor["forget"]["F"] > original["forget"]["F"] + 0.4 and floor["final_score"] > original["final_score"] + 0.4
    lo, hi = floor["intervals"]["F"]
    assert lo <= floor["forget"]["F"] <= hi and hi > original["intervals"]["F"][1]
    # retained examples: the original was trained on them too, so it is hard to tell from the retrained models there
    assert original["remain"]["F"] > original["forget"]["F"]
    # the closeness score agrees: retrained models are far closer to the retrained ones than the original is
    assert floor["avg_gap"] < 2 < 10 < original["avg_gap"]
    # where the confidences sit: the original is surer of the forget class than the retrained models, and the
    # disjoint retrained models sit near them
    assert original["forget_conf"] > original["forget_conf_retrained"] + 2
    assert abs(floor["forget_conf"] - floor["forget_conf_retrained"]) < 1
    assert original["forget_conf_retrained"] == floor["forget_conf_retrained"]


def test_audit_cli_writes_the_report_inputs(bank, tmp_path, capsys):
    code = main(
        [
            "audit",
            "--bank",
            str(bank),
            "--method",
            "finetune",
            "--set",
            "epochs=1",
            "--n",
            str(N),
            "--name",
            "ft",
            "--remain-sample",
            "30",
            "--bootstrap",
            "10",
            "--results-dir",
            str(tmp_path),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Avg.Gap (pp)" in printed and max(map(len, printed.splitlines())) <= 120
    out = tmp_path / "ft"
    summary = json.loads((out / "audit.json").read_text())
    assert summary["method"] == "finetune" and summary["settings"]["epochs"] == 1 and summary["n_unlearned"] == N
    assert summary["seeds_unlearned"] == list(range(N)) and summary["seeds_retrained"] == list(range(N))
    assert {"original", "retrain_vs_retrain"} <= set(summary["references"]) and "forget_indices_sha256" in summary[
        "provenance"
    ]
    rows = list(csv.DictReader(open(out / "audit_examples.csv")))
    groups = [r["group"] for r in rows]
    assert groups.count("forget") == 146 and groups.count("remain") == 30
    eps = np.array([float(r["epsilon"]) for r in rows])
    assert ((0 <= eps) & (eps <= 10)).all() and all(0 <= float(r["lira_auc"]) <= 1 for r in rows)
    for png in ("epsilon_hist.png", "lira_auc_hist.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "| finetune |" in (out / "audit.md").read_text() and "within_noise" in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit", "--n", "20"], "needs 20"),
        (["audit", "--n", "4", "--method", "nope"], "unknown method 'nope'"),
        (["audit", "--n", "4", "--set", "epochs"], "NAME=VALUE"),
        (["audit", "--n", "4", "--set", "wings=2"], "has no setting 'wings'"),
        (
            ["audit", "--n", "4", "--set", "epochs=1.5"],
            "takes an int",
        ),  # typed by the method's Settings, as `sweep --set`
        (["audit", "--n", "4", "--set", "lr=fast"], "takes a float"),
        (["audit", "--n", "2"], "at least 4"),
    ],
)
def test_bad_audit_input_is_one_line(bank, tmp_path, capsys, argv, message):
    defaults = {"--method": "finetune", "--name": "x"}
    argv = argv + [x for k, v in defaults.items() if k not in argv for x in (k, v)]
    code = main([*argv, "--bank", str(bank), "--results-dir", str(tmp_path), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().count("\n") == 0


def test_bad_bank_input_is_one_line(original, tmp_path, capsys):
    assert (
        main(
            [
                "bank",
                "--original",
                str(original),
                "--forget",
                "class:12",
                "--n",
                "2",
                "--out",
                str(tmp_path / "b"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "class 12 is out of range" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert main(["audit", "--bank", str(tmp_path), "--method", "finetune", "--n", "4", "--name", "x"]) == 2
    assert "is not a bank" in capsys.readouterr().err


def test_within_noise_marks_only_intervals_that_hold_the_target():
    row = {
        "forget_acc_ci95_low": 0.1,
        "forget_acc_ci95_high": 0.3,
        "remain_acc_ci95_low": 0.8,
        "remain_acc_ci95_high": 0.9,
    }
    assert within_noise_columns(row, {"forget_acc": 0.2, "remain_acc": 0.95}) == ["forget_acc"]


def test_bank_replaces_members_of_another_spec_only_with_replace(bank, original, tmp_path):
    from langevin_unlearning.core.errors import UserError
    from langevin_unlearning.experiments.bank import read_bank

    copy = tmp_path / "b"
    shutil.copytree(bank, copy)
    info = json.loads((copy / "bank.json").read_text())
    (copy / "bank.json").write_text(json.dumps({**info, "forget": "class:4"}))
    with pytest.raises(UserError, match="records a bank forgetting 'class:4', but seed-0000"):
        read_bank(copy)
    with pytest.raises(UserError, match="--replace"):
        build_bank(original, "class:4", 1, out=copy, device="cpu", progress=False)
    assert len(list(copy.glob("seed-*"))) == 2 * N  # nothing replaced
    report = build_bank(original, "class:4", 1, out=copy, device="cpu", progress=False, replace=True)
    assert report.trained == [0] and sorted(p.name for p in copy.glob("seed-*")) == ["seed-0000"]
    assert read_bank(copy)["seeds"] == [0] and read_bank(copy)["forget"] == "class:4"


# ---- the audit as a sweep objective -------------------------------------------------------------------


def audit_sweep_argv(original, bank, tmp_path, *extra):
    return [
        "sweep",
        "--original",
        str(original),
        "--retrain",
        str(member_dir(bank, 0)),
        "--forget",
        "class:3",
        "--method",
        "finetune",
        "--set",
        "epochs=1",
        "--set",
        "min_steps=5",
        "--grid",
        "lr=0.0001,0.1",
        "--objective",
        "audit",
        "--bank",
        str(bank),
        "--audit-n",
        str(N),
        "--name",
        "as",
        "--results-dir",
        str(tmp_path),
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


def test_sweep_with_the_audit_objective_stores_f_per_point_and_resumes(original, bank, tmp_path, capsys):
    from langevin_unlearning.store.sweep_store import SweepStore

    argv = audit_sweep_argv(original, bank, tmp_path)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 audits planned, 0 already stored, 2 finished now (0 failed)" in out and "highest audit F: lr=" in out
    assert "LiRA AUC" in out and "remain F" in out and f"{N} audit" in out
    assert "retrain-free |fgt/test AUC - 0.5| vs audit F over 2 points" in out and "Spearman" in out
    store = SweepStore.open(tmp_path / "as")
    audits, rows = store.audit_rows(), store.rows()
    store.close()
    assert rows == [] and len(audits) == 2  # one row per grid point, no per-seed rows
    by_lr = {a["settings"]["lr"]: a for a in audits}
    assert set(by_lr) == {0.0001, 0.1}
    for a in audits:
        m = a["metrics"]
        assert a["error"] is None and a["n"] == N and len(m["runs"]) == N
        assert 0 <= m["F"] <= 1 and 0 <= m["lira_auc"] <= 1 and 0 <= m["remain_F"] <= 1
        assert m["F_low"] <= m["F"] <= m["F_high"]
        # the mean gap of the N runs against the sweep's retrained model, as the per-seed rows compute it
        assert m["avg_gap"] == pytest.approx(np.mean([r["avg_gap"] for r in m["runs"]]))
        assert [r["seed"] for r in m["runs"]] == list(range(N))
        assert all(0 <= r["forget_test_auc"] <= 1 for r in m["runs"])
        assert m["forget_test_dist"] == pytest.approx(np.mean([r["forget_test_dist"] for r in m["runs"]]))
    # a near-zero learning rate barely moves the original: it stays exposed; lr 0.1 forgets class 3 far more
    assert by_lr[0.0001]["metrics"]["F"] < 0.2 and by_lr[0.0001]["metrics"]["lira_auc"] > 0.8
    assert by_lr[0.1]["metrics"]["F"] > by_lr[0.0001]["metrics"]["F"]
    assert by_lr[0.1]["metrics"]["avg_gap"] < by_lr[0.0001]["metrics"]["avg_gap"]

    assert main(argv) == 0  # the same command again: every point is stored, nothing runs
    assert "2 audits planned, 2 already stored, 0 finished now" in capsys.readouterr().out
    store = SweepStore.open(tmp_path / "as")
    assert store.audit_rows() == audits
    store.close()
