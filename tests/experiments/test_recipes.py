"""Models cached by their recipe: reused only when everything that made them is the same."""

from __future__ import annotations

from dataclasses import replace

import langevin_unlearning.experiments.recipes as recipes
from langevin_unlearning.engine.train import TrainConfig
from langevin_unlearning.experiments import Recipe, train_cached
from langevin_unlearning.store.checkpoint import read_meta

RECIPE = Recipe("digits", cfg=TrainConfig(epochs=1, lr=0.05), width=0.25)


def test_same_recipe_reuses_and_any_change_retrains(tmp_path, digits, monkeypatch):
    calls = []
    real = recipes.train_run
    monkeypatch.setattr(recipes, "train_run", lambda **kw: calls.append(kw) or real(**kw))
    out = tmp_path / "run"
    assert train_cached(RECIPE, out, forget="class:3", data=digits, progress=False) == (out, True)
    sha = read_meta(out).weights_sha256
    assert train_cached(
        Recipe("digits", cfg=TrainConfig(epochs=1, lr=0.05), width=0.25),
        out,
        forget="class:3",
        data=digits,
        progress=False,
    ) == (out, False)
    assert len(calls) == 1 and read_meta(out).weights_sha256 == sha
    assert read_meta(out).recipe_sha256 == RECIPE.digest(forget="class:3")
    for change in (
        {"recipe": replace(RECIPE, cfg=TrainConfig(epochs=2, lr=0.05))},
        {"forget": "class:4"},
        {"seed": 1},
        {"exclude_forget": True},
    ):
        recipe = change.pop("recipe", RECIPE)
        kwargs = {"forget": "class:3", **change}
        assert train_cached(recipe, out, data=digits, progress=False, **kwargs)[1] is True
        assert read_meta(out).recipe_sha256 == recipe.digest(**kwargs)
    assert len(calls) == 5


def test_the_digest_names_every_part_of_the_recipe():
    base = RECIPE.digest(forget="class:3")
    assert base == Recipe("digits", cfg=TrainConfig(epochs=1, lr=0.05), width=0.25).digest(forget="class:3")
    others = [
        replace(RECIPE, width=0.5),
        replace(RECIPE, image_size=16),
        replace(RECIPE, cfg=TrainConfig(epochs=1, lr=0.01)),
        replace(RECIPE, model="resnet18"),
    ]
    assert len({base, *(r.digest(forget="class:3") for r in others)}) == 5


def test_a_recipe_survives_its_record():
    from langevin_unlearning.engine.train import TrainConfig
    from langevin_unlearning.experiments import Recipe

    recipe = Recipe("digits", cfg=TrainConfig(epochs=2, lr=0.05), width=0.25, image_size=16, split_seed=3)
    again = Recipe.from_record(recipe.record())
    assert again == recipe and again.digest(forget="class:3") == recipe.digest(forget="class:3")


def test_a_studys_original_is_trained_once_for_every_forget_class(tmp_path, monkeypatch):
    """An original model trains on every image, so the studies key it without a forget spec: asking for it with
    another forget class reuses the folder, while a retrained model still retrains for its own class."""
    from argparse import Namespace

    import torch

    from studies.recipe import train_or_reuse

    calls = []
    real = recipes.train_run
    monkeypatch.setattr(recipes, "train_run", lambda **kw: calls.append(kw) or real(**kw))
    args = Namespace(epochs=1, lr=0.05, batch_size=64, precision="fp32", width=0.25, image_size=None, seed=0)
    cpu = torch.device("cpu")
    for forget in ("class:3", "class:4"):
        train_or_reuse(tmp_path / "original", forget=forget, exclude=False, args=args, device=cpu, dataset="digits")
    assert len(calls) == 1 and calls[0]["forget"] is None
    assert read_meta(tmp_path / "original").kind == "original"
    for forget in ("class:3", "class:4"):
        train_or_reuse(tmp_path / "retrained", forget=forget, exclude=True, args=args, device=cpu, dataset="digits")
    assert [c["forget"] for c in calls[1:]] == ["class:3", "class:4"]
