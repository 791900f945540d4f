import json

import pytest
import torch

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.models import create_model
from langevin_unlearning.store.checkpoint import load_checkpoint, model_spec, read_meta, save_checkpoint


def small(name="allcnn", classes=10):
    spec = model_spec(name, num_classes=classes, in_channels=1, mean=(0.5,), std=(0.25,), width=0.1)
    return create_model(name, num_classes=classes, in_channels=1, mean=(0.5,), std=(0.25,), width=0.1), spec


def test_round_trip_is_exact_and_records_metadata(tmp_path):
    torch.manual_seed(0)
    model, spec = small()
    save_checkpoint(tmp_path / "run", model, spec, {"seed": 7})
    loaded, meta = load_checkpoint(tmp_path / "run")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert meta.seed == 7 and meta.model["name"] == "allcnn" and len(meta.weights_sha256) == 64
    assert meta.versions["torch"] == torch.__version__
    assert not list((tmp_path / "run").glob("*.tmp"))  # nothing half-written left behind
    # the .safetensors or .json path works as well as the folder
    load_checkpoint(tmp_path / "run" / "model.safetensors")


def test_corrupted_weights_are_refused(tmp_path):
    model, spec = small()
    save_checkpoint(tmp_path, model, spec, {})
    weights = tmp_path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match the sha256"):
        load_checkpoint(tmp_path)


def test_wrong_architecture_is_refused(tmp_path):
    model, spec = small()
    save_checkpoint(tmp_path, model, spec, {})
    with pytest.raises(UserError, match="holds a allcnn model, not resnet18"):
        load_checkpoint(tmp_path, expect_model="resnet18")
    # a sidecar that lies about the architecture: the weights do not fit
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["model"]["num_classes"] = 3
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="another architecture"):
        load_checkpoint(tmp_path)


def test_missing_and_garbled_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "nothing")
    model, spec = small()
    save_checkpoint(tmp_path, model, spec, {})
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_checkpoint(tmp_path)


def test_the_run_record_is_typed_and_keeps_keys_it_does_not_know(tmp_path):
    from langevin_unlearning.store.runmeta import RunMeta

    model = create_model("allcnn", num_classes=10, in_channels=1, mean=[0.5], std=[0.25], width=0.25)
    spec = model_spec("allcnn", num_classes=10, in_channels=1, mean=[0.5], std=[0.25], width=0.25)
    saved = save_checkpoint(
        tmp_path, model, spec, {"kind": "original", "dataset": "digits", "seed": 3, "future_key": [1, 2]}
    )
    loaded = read_meta(tmp_path)
    assert isinstance(loaded, RunMeta) and loaded == saved
    assert loaded.kind == "original" and loaded.dataset == "digits" and loaded.seed == 3 and loaded.subset_seed == 3
    assert loaded.extra == {"future_key": [1, 2]}  # written back as it was
    on_disk = json.loads((tmp_path / "model.json").read_text())
    assert on_disk["future_key"] == [1, 2] and "composition" not in on_disk  # unset fields are not written
    assert RunMeta.from_dict(loaded.to_dict()) == loaded
