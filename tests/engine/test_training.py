"""Quality of the trained models on real (small) data, with fixed seeds."""

import torch
from outputs import assert_same_outputs, assert_same_weights

from langevin_unlearning.core.digest import index_digest
from langevin_unlearning.store.checkpoint import load_checkpoint


def test_original_reaches_90_percent(original_run):
    _, _, meta, _ = original_run
    assert meta.accuracy["test_acc"] >= 0.90
    assert meta.kind == "original" and meta.seed == 0


def test_retrained_never_saw_the_forget_class(retrained_run, forget_split, digits):
    out, model, meta, result = retrained_run
    # from the indices the trainer actually drew
    assert result.seen[forget_split.train_forget].sum() == 0
    assert (result.seen[forget_split.train_remain] == 10).all()  # every remain image once per epoch
    assert (digits.train.labels[result.seen > 0] != 3).all()
    assert meta.train_images == len(forget_split.train_remain)
    assert meta.train_indices_sha256 == index_digest(forget_split.train_remain)
    # it cannot predict a class it never saw, and still knows the others
    assert meta.accuracy["forget_acc"] == 0.0
    assert meta.accuracy["remain_acc"] >= 0.90


def test_saved_run_reloads_to_the_same_predictions(retrained_run, digits):
    out, model, meta, _ = retrained_run
    loaded, loaded_meta = load_checkpoint(out)
    x = digits.test.images[:32].float() / 255
    model.eval()
    loaded.eval()  # both in eval mode: a train-mode forward normalizes with the batch's statistics, not the saved ones
    with torch.no_grad():
        assert_same_outputs(loaded(x), model(x))
    assert_same_weights(loaded, model)
    assert loaded_meta.exclude_forget is True and loaded_meta.forget == "class:3"


def test_same_seed_same_weights(digits, tmp_path):
    from langevin_unlearning.engine.train import TrainConfig
    from langevin_unlearning.experiments.training import train_run

    cfg = TrainConfig(epochs=1, lr=0.05)
    a, *_ = train_run(
        dataset="digits", model="allcnn", width=0.1, cfg=cfg, out=tmp_path / "a", seed=5, progress=False, data=digits
    )
    b, *_ = train_run(
        dataset="digits", model="allcnn", width=0.1, cfg=cfg, out=tmp_path / "b", seed=5, progress=False, data=digits
    )
    c, *_ = train_run(
        dataset="digits", model="allcnn", width=0.1, cfg=cfg, out=tmp_path / "c", seed=6, progress=False, data=digits
    )
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
