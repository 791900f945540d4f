"""timm models behind the registry: the features/head split, sizes, local weights, training and unlearning on digits."""

import sys

import pytest
import torch
from outputs import assert_same_outputs, assert_same_weights

from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.engine.train import TrainConfig
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.experiments.training import train_run
from langevin_unlearning.methods import create_method
from langevin_unlearning.models import create_model, load_local_weights
from langevin_unlearning.store.checkpoint import load_checkpoint

timm = pytest.importorskip("timm")

STATS = dict(mean=(0.3,), std=(0.3,))
TINY_VIT = {"patch_size": 4, "embed_dim": 32, "depth": 2, "num_heads": 2}  # 4 tokens of 4x4 pixels on 8x8 digits
VIT = "timm:vit_tiny_patch16_224"


def tiny_vit(num_classes=10, **extra):
    return create_model(VIT, num_classes=num_classes, in_channels=1, image_size=8, args={**TINY_VIT, **extra}, **STATS)


@pytest.mark.parametrize("name, args", [(VIT, TINY_VIT), ("timm:resnet18", {})])
def test_features_and_head_are_timms_own_forward(name, args):
    torch.manual_seed(0)
    m = create_model(name, num_classes=10, in_channels=1, image_size=8, args=args, **STATS).eval()
    # a plain timm network holding the same weights computes the same logits from normalized input
    plain = timm.create_model(name.split(":")[1], pretrained=False, num_classes=10, in_chans=1, **m.model_args).eval()
    head = m.body.pretrained_cfg["classifier"]
    plain.load_state_dict({**m.body.state_dict(), **{f"{head}.{k}": v for k, v in m.classifier.state_dict().items()}})
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(m(x), plain((x - 0.3) / 0.3), atol=1e-5)
        assert torch.allclose(m.classifier(m.features(x)), m(x))
    assert m.features(x).shape[1] == m.classifier.in_features
    assert not any(k.startswith(f"body.{head}.") for k in m.state_dict())  # the head is held once, as classifier


def test_vit_blocks_run_input_to_head():
    m = tiny_vit()
    kinds = [type(b).__name__ for b in m.blocks()]
    assert kinds == ["PatchEmbed", "Block", "Block", "LayerNorm", "Linear"]
    assert m.blocks()[-1] is m.classifier
    assert m.model_args == {"img_size": 8, **TINY_VIT}  # img_size added because ViTs take one


def test_size_and_argument_errors_are_one_line():
    with pytest.raises(UserError, match="cannot take 8x8 images.*patch_size"):
        create_model(VIT, num_classes=10, in_channels=1, image_size=8, args={}, **STATS)
    with pytest.raises(UserError, match="unknown timm model 'no_such_net'"):
        create_model("timm:no_such_net", num_classes=10, in_channels=1, **STATS)
    with pytest.raises(UserError, match="does not take these arguments"):
        create_model("timm:resnet18", num_classes=10, in_channels=1, args={"bogus": 1}, **STATS)
    with pytest.raises(UserError, match="no width multiplier"):
        create_model("timm:resnet18", num_classes=10, in_channels=1, width=0.5, **STATS)
    with pytest.raises(UserError, match="cannot be set"):
        create_model("timm:resnet18", num_classes=10, in_channels=1, args={"pretrained": True}, **STATS)


def test_without_timm_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError
    with pytest.raises(UserError, match=r"langevin-unlearning\[timm\]"):
        create_model("timm:resnet18", num_classes=10, in_channels=1, **STATS)


def test_local_weights_load_the_trunk_and_a_fitting_head(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=10, in_chans=1, img_size=8, **TINY_VIT
    )
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "w.safetensors")
    for classes, head_loaded in ((10, True), (4, False)):
        torch.manual_seed(2)
        m = tiny_vit(num_classes=classes)
        info = load_local_weights(m, tmp_path / "w.safetensors")
        assert info["head_loaded"] is head_loaded and len(info["sha256"]) == 64
        assert torch.equal(m.body.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)
        assert torch.equal(m.classifier.weight, source.head.weight) is head_loaded
    with pytest.raises(UserError, match="does not fit"):
        load_local_weights(tiny_vit(embed_dim=16), tmp_path / "w.safetensors")
    with pytest.raises(UserError, match="not found"):
        load_local_weights(tiny_vit(), tmp_path / "none.safetensors")
    allcnn = create_model("allcnn", num_classes=10, in_channels=1, width=0.1, **STATS)
    with pytest.raises(UserError, match="timm: models only"):
        load_local_weights(allcnn, tmp_path / "w.safetensors")


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("timm") / "vit"
    cfg = TrainConfig(epochs=1, lr=3e-3, batch_size=16, optimizer="adamw", augment=False, schedule="constant")
    model, meta, _ = train_run(
        dataset="digits",
        model=VIT,
        model_args=TINY_VIT,
        cfg=cfg,
        out=out,
        forget="class:3",
        seed=0,
        progress=False,
        data=digits,
    )
    return out, model, meta


@pytest.mark.slow
def test_a_small_vit_trains_one_epoch_and_round_trips(vit_run, digits):
    out, model, meta = vit_run
    assert meta.accuracy["test_acc"] > 0.4  # 10 classes: chance is 0.1
    loaded, saved = load_checkpoint(out)
    assert saved.model["args"] == {"img_size": 8, **TINY_VIT}  # the sidecar rebuilds the same architecture
    x = digits.test.images[:64].float() / 255
    assert_same_weights(loaded, model)  # the weights round-trip bit for bit
    with torch.no_grad():  # the outputs of two instances: within tolerance (kernels may differ)
        assert_same_outputs(loaded.eval()(x), model.eval()(x))


@pytest.mark.slow
def test_langevin_unlearns_a_vit(vit_run, digits, forget_split):
    _, model, meta = vit_run
    unlearned = create_method("langevin", min_steps=60).unlearn(
        model, digits, forget_split, device=torch.device("cpu"), seed=0, progress=False
    )
    after = evaluate(unlearned, digits, forget_split)
    before = meta.accuracy
    assert before["forget_acc"] > 0.5
    assert after["forget_acc"] < 0.25 * before["forget_acc"]
    assert after["remain_acc"] > before["remain_acc"] - 0.1


@pytest.mark.slow
def test_eu_k_retrains_only_the_last_vit_blocks(vit_run, digits, forget_split):
    _, model, _ = vit_run
    out = create_method("eu-k", k=2, epochs=1).unlearn(
        model, digits, forget_split, device=torch.device("cpu"), seed=0, progress=False
    )
    kept, changed = model.blocks()[:-2], out.blocks()[-2:]
    for a, b in zip(kept, out.blocks()[:-2]):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(changed[-1].weight, model.classifier.weight)


def test_train_cli_builds_a_timm_model(tmp_path, capsys):
    args = [
        "train",
        "--dataset",
        "digits",
        "--model",
        VIT,
        "--epochs",
        "1",
        "--optimizer",
        "adamw",
        "--lr",
        "3e-3",
        "--no-progress",
        "--out",
        str(tmp_path / "v"),
    ]
    arch = [a for k, v in TINY_VIT.items() for a in ("--model-arg", f"{k}={v}")]
    from safetensors.torch import save_file

    torch.manual_seed(3)
    source = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=10, in_chans=1, img_size=8, **TINY_VIT
    )
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "init.safetensors")
    assert main([*args, *arch, "--weights", str(tmp_path / "init.safetensors")]) == 0
    meta = load_checkpoint(tmp_path / "v")[1]
    assert meta.model["args"]["patch_size"] == 4
    assert meta.init_weights["file"] == str(tmp_path / "init.safetensors") and meta.init_weights["head_loaded"]
    assert main([*args[:-1], str(tmp_path / "w"), "--model-arg", "patch_size"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
