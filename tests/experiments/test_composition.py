"""`compose`: one run's features with another run's head, bit-identical; fine-tuning trajectory; parent checks."""

import csv
import json
import shutil
from dataclasses import replace

import pytest
import torch
from outputs import assert_same_outputs

from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.experiments.compose import FinetuneSettings, check_parents, compose, finetune
from langevin_unlearning.experiments.setup import load_setup, save_unlearned, unlearn_and_evaluate
from langevin_unlearning.methods import create_method
from langevin_unlearning.models import create_model
from langevin_unlearning.store.checkpoint import load_checkpoint, read_meta

FORGET = "class:3"


def compose_cli(a, b, out, *extra):
    return main(
        [
            "compose",
            "--features",
            str(a),
            "--head",
            str(b),
            "--forget",
            FORGET,
            "--name",
            out.name,
            "--runs-dir",
            str(out.parent),
            "--no-progress",
            *extra,
        ]
    )


def head_keys(state):
    return {k for k in state if k.startswith("classifier.")}


@pytest.fixture(scope="module")
def composed(original_run, retrained_run, tmp_path_factory):
    """Original features + retrained head, no fine-tuning (two different runs)."""
    out = tmp_path_factory.mktemp("compose") / "plain"
    assert compose_cli(original_run[0], retrained_run[0], out, "--retrain", str(retrained_run[0])) == 0
    return out


def test_without_finetuning_features_are_a_and_head_is_b(composed, original_run, retrained_run, digits):
    model, meta = load_checkpoint(composed)
    a, _ = load_checkpoint(original_run[0])
    b, _ = load_checkpoint(retrained_run[0])
    state, sa, sb = model.state_dict(), a.state_dict(), b.state_dict()
    assert head_keys(state) == {"classifier.weight", "classifier.bias"}
    for k in state:
        assert torch.equal(state[k], (sb if k in head_keys(state) else sa)[k]), k
    assert not torch.equal(sa["classifier.weight"], sb["classifier.weight"])  # the parents really differ
    x = digits.test.images[:128].float() / 255
    model.eval(), a.eval(), b.eval()
    with torch.no_grad():  # another instance with the same weights: equal within float tolerance
        assert_same_outputs(model.features(x), a.features(x))
        assert_same_outputs(model(x), b.classifier(a.features(x)))
    parents = meta.composition
    assert parents["features"]["weights_sha256"] == read_meta(original_run[0]).weights_sha256
    assert parents["head"]["weights_sha256"] == read_meta(retrained_run[0]).weights_sha256
    assert parents["features"]["run"] == str(original_run[0]) and parents["head"]["kind"] == "retrained"
    assert meta.kind == "composed" and len(meta.trajectory) == 1


def test_evaluate_scores_the_composed_model(composed, retrained_run, capsys):
    capsys.readouterr()
    assert (
        main(["evaluate", "--model", str(composed), "--forget", FORGET, "--reference", str(retrained_run[0]), "--json"])
        == 0
    )
    scored = json.loads(capsys.readouterr().out)
    saved = json.loads((composed / "metrics.json").read_text())
    assert scored["forget_acc"] == pytest.approx(saved["forget_acc"]) and scored["remain_acc"] == pytest.approx(
        saved["remain_acc"]
    )
    # the retrained head never learned to answer 3: on the original's features it still does not
    original_forget = read_meta(composed).composition["features"]
    assert original_forget["kind"] == "original"
    assert scored["forget_acc"] < 0.5


def test_compare_takes_compositions_as_rows(composed, original_run, retrained_run, tmp_path):
    code = main(
        [
            "compare",
            "--original",
            str(original_run[0]),
            "--retrain",
            str(retrained_run[0]),
            "--forget",
            FORGET,
            "--methods",
            "none",
            "--models",
            f"composed={composed}",
            "--name",
            "c",
            "--results-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    rows = {r["method"]: r for r in csv.DictReader(open(tmp_path / "c.csv"))}
    assert list(rows) == ["original", "retrain (target)", "composed"]
    saved = json.loads((composed / "metrics.json").read_text())
    assert float(rows["composed"]["forget_acc"]) == pytest.approx(saved["forget_acc"], abs=1e-5)
    assert float(rows["composed"]["gap"]) >= 0


def edited_copy(run, dest, **changes):
    shutil.copytree(run, dest)
    meta = json.loads((dest / "model.json").read_text())
    for key, value in changes.items():
        target = meta
        *path, last = key.split(".")
        for p in path:
            target = target[p]
        target[last] = value
    (dest / "model.json").write_text(json.dumps(meta))
    return dest


def test_mismatched_parents_are_one_line_errors(original_run, retrained_run, tmp_path, capsys):
    a, b = read_meta(original_run[0]), read_meta(retrained_run[0])
    check_parents(a, b, FORGET)  # same architecture, dataset and spec: fine
    cases = {
        "different architectures.*width 0.5": replace(b, model={**b.model, "width": 0.5}),
        "different architectures.*patch_size=2": replace(b, model={**b.model, "args": {"patch_size": 2}}),
        "different datasets \\(digits vs fashionmnist\\)": replace(b, dataset="fashionmnist"),
        "made for forget spec 'class:4'": replace(b, forget="class:4"),
    }
    for message, other in cases.items():
        with pytest.raises(UserError, match=message):
            check_parents(a, other, FORGET)
    with pytest.raises(UserError, match="not 'class:5'"):  # both fit each other but not the spec asked for
        check_parents(a, b, "class:5")
    # through the CLI: exit 2 and one line naming what differs
    wrong = edited_copy(retrained_run[0], tmp_path / "wrong", dataset="fashionmnist")
    capsys.readouterr()
    assert compose_cli(original_run[0], wrong, tmp_path / "x") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "different datasets" in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_finetuning_reports_a_trajectory(original_run, retrained_run, tmp_path, capsys):
    out = tmp_path / "tuned"
    capsys.readouterr()
    assert compose_cli(original_run[0], retrained_run[0], out, "--finetune-epochs", "2", "--lr", "1e-3") == 0
    printed = capsys.readouterr().out
    assert "epoch" in printed and "after each epoch" in printed
    trajectory = json.loads((out / "metrics.json").read_text())["trajectory"]
    assert [r["epoch"] for r in trajectory] == [0, 1, 2]
    assert all(0 <= r["forget_acc"] <= 1 and 0 <= r["remain_acc"] <= 1 for r in trajectory)
    assert read_meta(out).composition["finetune"]["epochs"] == 2
    # the weights moved: the model is no longer the plain composition
    tuned, _ = load_checkpoint(out)
    a, _ = load_checkpoint(original_run[0])
    assert not torch.equal(tuned.state_dict()["body.0.0.0.weight"], a.state_dict()["body.0.0.0.weight"])


def test_frozen_features_stay_bit_identical_through_finetuning(original_run, retrained_run, digits, forget_split):
    a, _ = load_checkpoint(original_run[0])
    b, _ = load_checkpoint(retrained_run[0])
    model = compose(a, b)
    trajectory = finetune(
        model,
        digits,
        forget_split,
        FinetuneSettings(epochs=1, lr=1e-2, freeze_features=True),
        device=torch.device("cpu"),
        progress=False,
    )
    assert len(trajectory) == 2
    for k, v in model.state_dict().items():
        if not k.startswith("classifier."):
            assert torch.equal(v, a.state_dict()[k]), k  # BatchNorm statistics included
    assert not torch.equal(model.classifier.weight, b.classifier.weight)
    assert all(p.requires_grad for p in model.parameters())  # nothing left frozen behind


def test_settings_are_validated():
    for bad, message in [
        ({"epochs": -1}, "finetune-epochs"),
        ({"optimizer": "rmsprop"}, "unknown optimizer"),
        ({"lr": 0}, "--lr"),
    ]:
        with pytest.raises(UserError, match=message):
            FinetuneSettings(**bad)  # refused when built


@pytest.mark.slow
def test_an_unlearned_run_is_a_parent(original_run, retrained_run, tmp_path):
    setup = load_setup(original_run[0], FORGET, retrain=retrained_run[0])
    method = create_method("langevin", epochs=1, min_steps=20)
    model, metrics = unlearn_and_evaluate(setup, method, seed=0, progress=False)
    save_unlearned(tmp_path / "langevin", model, setup, method, metrics, seed=0)
    out = tmp_path / "c"
    assert compose_cli(retrained_run[0], tmp_path / "langevin", out) == 0
    record = read_meta(out).composition["head"]
    assert record["kind"] == "unlearned" and record["unlearning"]["method"] == "langevin"
    composed, _ = load_checkpoint(out)
    assert torch.equal(composed.classifier.weight, model.classifier.weight)


def test_timm_models_compose(digits):
    pytest.importorskip("timm")
    args = {"patch_size": 4, "embed_dim": 16, "depth": 1, "num_heads": 2}
    torch.manual_seed(0)
    a = create_model(
        "timm:vit_tiny_patch16_224",
        num_classes=10,
        in_channels=1,
        mean=digits.mean,
        std=digits.std,
        image_size=8,
        args=args,
    ).eval()
    b = create_model(
        "timm:vit_tiny_patch16_224",
        num_classes=10,
        in_channels=1,
        mean=digits.mean,
        std=digits.std,
        image_size=8,
        args=args,
    ).eval()
    model = compose(a, b)
    x = digits.test.images[:16].float() / 255
    with torch.no_grad():
        assert_same_outputs(model.features(x), a.features(x))
        assert_same_outputs(model(x), b.classifier(a.features(x)))


def test_finetune_that_diverges_ends_in_one_line_naming_the_step(digits, forget_split):
    model = create_model("allcnn", num_classes=10, in_channels=1, mean=digits.mean, std=digits.std, width=0.25)
    with pytest.raises(
        UserError, match=r"^loss became NaN/inf at fine-tuning epoch 1, step \d+ .*lower the learning rate"
    ):
        finetune(
            model,
            digits,
            forget_split,
            FinetuneSettings(epochs=1, optimizer="sgd", lr=1e30),
            device=torch.device("cpu"),
            progress=False,
        )
