"""The simple baselines on real digits data, fixed seeds: retrain, finetune, l1-sparse, cf-k, eu-k,
neggrad, neggrad+ and random-label. Each runs once with its defaults (module fixture); the tests check
what its paper says it does."""

import copy
import dataclasses

import pytest
import torch
from torch import nn

import langevin_unlearning.methods.finetune  # noqa: F401  (registers retrain, finetune, l1-sparse, cf-k, eu-k)
import langevin_unlearning.methods.neggrad  # noqa: F401  (registers neggrad, neggrad+)
import langevin_unlearning.methods.random_label  # noqa: F401  (registers random-label)
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.core.validation import Validated
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.methods import METHODS, create_method
from langevin_unlearning.methods.finetune import reinitialise, reset_blocks
from langevin_unlearning.store.checkpoint import load_checkpoint

CPU = torch.device("cpu")
NAMES = ["retrain", "finetune", "l1-sparse", "cf-k", "eu-k", "neggrad", "neggrad+", "random-label"]


def unlearn(original_run, digits, forget_split, name, seed=0, **settings):
    method = create_method(name, **settings)
    return method, method.unlearn(original_run[1], digits, forget_split, device=CPU, seed=seed, progress=False)


def same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def block_state(block: nn.Module) -> list[torch.Tensor]:
    return [*block.parameters(), *block.buffers()]


@pytest.fixture(scope="module")
def original_eval(original_run, digits, forget_split):
    return evaluate(original_run[1], digits, forget_split)


@pytest.fixture(scope="module")
def runs(original_run, digits, forget_split):
    """Every method once with its default settings, seed 0: name -> (method, unlearned model, evaluation)."""
    out = {}
    for name in NAMES:
        method, model = unlearn(original_run, digits, forget_split, name)
        out[name] = (method, model, evaluate(model, digits, forget_split))
    return out


def test_registered_with_paper_and_documented_settings():
    for name in NAMES:
        cls = METHODS.get(name)
        assert cls.name == name and cls.paper and cls.__doc__
        assert dataclasses.is_dataclass(cls.Settings) and issubclass(cls.Settings, Validated) and cls.Settings.RULES


@pytest.mark.parametrize("name", NAMES)
def test_runs_changes_weights_and_leaves_the_original_alone(name, runs, original_run):
    out, original, _, _ = original_run
    saved, _ = load_checkpoint(out)
    _, model, _ = runs[name]
    assert same(saved, original), "the original model was modified"
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), original.parameters()))
    assert not model.training and all(p.requires_grad for p in model.parameters())


def test_retrain_is_the_gold_standard(runs, original_eval, forget_split):
    method, _, after = runs["retrain"]
    assert original_eval["forget_acc"] > 0.9
    assert after["forget_acc"] == 0.0  # class 3 was never seen: it is never predicted
    assert after["remain_acc"] >= 0.9
    seen = method.last_result.seen
    assert seen[forget_split.train_forget].sum() == 0, "retraining drew a forget image"
    assert (seen[forget_split.train_remain] == method.settings.epochs).all()


def test_retrain_with_the_reference_recipe_reproduces_the_retrained_reference(
    runs, retrained_run, original_run, digits, forget_split
):
    _, reference, meta, _ = retrained_run
    recipe = {
        k: meta.train[k] for k in ("epochs", "lr", "batch_size", "momentum", "weight_decay", "schedule", "augment")
    }
    method, model, _ = runs["retrain"]
    if (
        recipe != {k: getattr(method.settings, k) for k in recipe} or meta.seed != 0
    ):  # defaults differ from the fixture's recipe
        _, model = unlearn(original_run, digits, forget_split, "retrain", seed=meta.seed, **recipe)
    assert same(model, reference)  # fresh seeded initialisation + remain-only training = train_run(exclude_forget)


@pytest.mark.parametrize("name", ["finetune", "l1-sparse", "cf-k", "eu-k"])
def test_remain_training_keeps_remain_accuracy_and_does_not_raise_forget_accuracy(name, runs, original_eval):
    _, _, after = runs[name]
    assert after["remain_acc"] >= 0.85
    assert after["forget_acc"] <= original_eval["forget_acc"]


def test_l1_sparse_is_sparser_than_finetune_with_the_same_budget(runs):
    assert runs["l1-sparse"][0].settings.epochs == runs["finetune"][0].settings.epochs
    l1 = {name: sum(p.abs().sum().item() for p in runs[name][1].parameters()) for name in ("finetune", "l1-sparse")}
    assert l1["l1-sparse"] < 0.97 * l1["finetune"]


def test_cf_k_trains_only_the_last_k_blocks(runs, original_run):
    method, model, _ = runs["cf-k"]
    k, ours, theirs = method.settings.k, model.blocks(), original_run[1].blocks()
    assert 1 <= k < len(ours)
    for a, b in zip(ours[:-k], theirs[:-k]):  # frozen: parameters and BatchNorm buffers bit-identical
        assert all(torch.equal(x, y) for x, y in zip(block_state(a), block_state(b)))
    for a, b in zip(ours[-k:], theirs[-k:]):
        assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_eu_k_really_reinitialises_the_last_k_blocks(original_run):
    original = original_run[1]
    k = create_method("eu-k").settings.k
    model = copy.deepcopy(original)
    reset = reset_blocks(model, k, seed=0)
    ours, theirs = model.blocks(), original.blocks()
    assert [id(b) for b in reset] == [id(b) for b in ours[-k:]]
    for a, b in zip(ours[:-k], theirs[:-k]):
        assert all(torch.equal(x, y) for x, y in zip(block_state(a), block_state(b)))
    for a, b in zip(ours[-k:], theirs[-k:]):  # every weight and every BatchNorm statistic is new
        for x, y in zip(block_state(a), block_state(b)):
            assert not torch.equal(x, y)
    again = copy.deepcopy(original)
    reset_blocks(again, k, seed=0)
    assert same(again, model)
    reset_blocks(again, k, seed=1)
    assert not same(again, model)


def test_eu_k_keeps_the_frozen_blocks_and_retrains_the_rest(runs, original_run):
    method, model, after = runs["eu-k"]
    k, ours, theirs = method.settings.k, model.blocks(), original_run[1].blocks()
    for a, b in zip(ours[:-k], theirs[:-k]):
        assert all(torch.equal(x, y) for x, y in zip(block_state(a), block_state(b)))
    assert after["forget_acc"] == 0.0  # the retrained head never saw class 3


def test_reinitialise_refuses_parameters_it_cannot_reset():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

    with pytest.raises(UserError, match="no reset_parameters"):
        reinitialise([nn.Sequential(nn.Linear(2, 2), Scale())])


@pytest.mark.parametrize("name", ["neggrad", "neggrad+", "random-label"])
def test_forget_set_methods_forget(name, runs, original_eval):
    _, _, after = runs[name]
    assert original_eval["forget_acc"] > 0.9
    assert after["forget_acc"] < 0.5
    assert after["remain_acc"] >= (0.5 if name == "neggrad" else 0.8)  # plain ascent hurts the rest: its known weakness


def test_same_seed_same_weights_other_seed_other_weights(original_run, digits, forget_split):
    kw = dict(epochs=1, min_steps=5, resample_labels=True)
    _, a = unlearn(original_run, digits, forget_split, "random-label", seed=1, **kw)
    _, b = unlearn(original_run, digits, forget_split, "random-label", seed=1, **kw)
    _, c = unlearn(original_run, digits, forget_split, "random-label", seed=2, **kw)
    assert same(a, b) and not same(a, c)
    _, d = unlearn(original_run, digits, forget_split, "cf-k", seed=1, epochs=1, min_steps=0)
    _, e = unlearn(original_run, digits, forget_split, "cf-k", seed=1, epochs=1, min_steps=0)
    assert same(d, e)


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("retrain", {"epochs": 0}, "epochs must be at least 1"),
        ("finetune", {"schedule": "step"}, "unknown schedule 'step'"),
        ("l1-sparse", {"alpha": -1e-4}, "alpha must be a number >= 0"),
        ("cf-k", {"k": 0}, "k must be at least 1"),
        ("cf-k", {"alpha": 1e-4}, "has no setting alpha"),
        ("eu-k", {"lr": 0.0}, "lr must be a positive number"),
        ("neggrad", {"bn": "eval"}, "unknown bn mode 'eval'"),
        ("neggrad+", {"beta": 1.0}, r"beta must be in \[0, 1\)"),
        ("random-label", {"remain_weight": -1.0}, "remain_weight must be a number >= 0"),
    ],
)
def test_bad_settings_are_one_line_errors(name, settings, message):
    with pytest.raises(UserError, match=message) as e:
        create_method(name, **settings)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["cf-k", "eu-k"])
def test_k_larger_than_the_model_is_a_clear_error(name, original_run, digits, forget_split):
    blocks = len(original_run[1].blocks())
    with pytest.raises(UserError, match=f"k must be between 1 and {blocks}"):
        unlearn(original_run, digits, forget_split, name, k=blocks + 1)


def test_diverging_gradient_ascent_is_a_clear_error(original_run, digits, forget_split):
    with pytest.raises(UserError, match="lower the learning rate"):
        unlearn(original_run, digits, forget_split, "neggrad", lr=10.0, bn="frozen", min_steps=50)
