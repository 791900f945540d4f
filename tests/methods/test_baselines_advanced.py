"""SCRUB, SalUn and Boundary Expanding on real digits data (class 3 forgotten), fixed seeds."""

import dataclasses
import math

import pytest
import torch
from outputs import assert_same_outputs
from torch import nn

import langevin_unlearning.methods.boundary_expanding  # noqa: F401  (registers boundary-expanding)
import langevin_unlearning.methods.salun  # noqa: F401  (registers salun)
import langevin_unlearning.methods.scrub  # noqa: F401  (registers scrub)
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.engine.batches import batch_input
from langevin_unlearning.engine.predict import predict_logits
from langevin_unlearning.evaluation.metrics import evaluate
from langevin_unlearning.methods import METHODS, create_method
from langevin_unlearning.methods.boundary_expanding import widen_head
from langevin_unlearning.methods.salun import saliency_mask
from langevin_unlearning.methods.scrub import ScrubSettings, distill_kl, schedule
from langevin_unlearning.store.checkpoint import load_checkpoint, read_meta, save_checkpoint

CPU = torch.device("cpu")
NAMES = ("scrub", "salun", "boundary-expanding")
# a few updates each: enough to move weights, for the checks that do not need forgetting
TINY = {
    "scrub": dict(epochs=1, max_epochs=1, min_steps=6),
    "salun": dict(epochs=1, min_steps=6),
    "boundary-expanding": dict(epochs=1, min_steps=6),
}


def unlearn(name, original_run, digits, forget_split, seed=0, **settings):
    return create_method(name, **settings).unlearn(
        original_run[1], digits, forget_split, device=CPU, seed=seed, progress=False
    )


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The cores are shared: two OpenMP threads beside another busy process run these small nets ~70x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def original_state(original_run):
    """The original's weights before any method of this module ran."""
    return {k: v.clone() for k, v in original_run[1].state_dict().items()}


@pytest.fixture(scope="module")
def original_eval(original_run, digits, forget_split):
    return evaluate(original_run[1], digits, forget_split)


@pytest.fixture(scope="module")
def defaults(original_state, original_run, digits, forget_split):
    """Each method with its default settings."""
    return {name: unlearn(name, original_run, digits, forget_split) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_defaults_forget_the_class_and_keep_the_rest(name, defaults, original_eval, digits, forget_split):
    after = evaluate(defaults[name], digits, forget_split)
    assert original_eval["forget_acc"] > 0.90
    assert after["forget_acc"] <= 0.20
    assert after["train_forget_acc"] <= 0.20
    if name == "boundary-expanding":
        # no remain term: classes that look like the forgotten one lose some accuracy, the rest stays
        assert after["remain_acc"] >= 0.80
    else:
        # scrub and salun train on the remain set as they unlearn
        assert after["remain_acc"] >= original_eval["remain_acc"] - 0.05


@pytest.mark.parametrize("name", NAMES)
def test_weights_change_and_the_original_is_untouched(name, defaults, original_run, original_state):
    model = original_run[1]
    assert all(torch.equal(v, original_state[k]) for k, v in model.state_dict().items())
    assert not same_weights(defaults[name], model)
    assert not defaults[name].training  # returned in eval mode


def test_the_original_matches_its_checkpoint(defaults, original_run):
    saved, _ = load_checkpoint(original_run[0])
    assert same_weights(saved, original_run[1])


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights(name, original_run, digits, forget_split):
    a = unlearn(name, original_run, digits, forget_split, seed=1, **TINY[name])
    b = unlearn(name, original_run, digits, forget_split, seed=1, **TINY[name])
    c = unlearn(name, original_run, digits, forget_split, seed=2, **TINY[name])
    assert same_weights(a, b)
    assert not same_weights(a, c)


def forget_gradient(model, digits, index):
    """|d CE(forget, summed) / dw| computed independently of saliency_mask, on a copy in eval mode."""
    import copy

    m = copy.deepcopy(model).eval().requires_grad_(True)
    x = batch_input(digits.train.images, index, CPU)
    loss = nn.functional.cross_entropy(m(x), digits.train.labels[index], reduction="sum")
    return dict(
        zip([n for n, _ in m.named_parameters()], (g.abs() for g in torch.autograd.grad(loss, list(m.parameters()))))
    )


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.0])
def test_saliency_mask_keeps_the_largest_gradients(sparsity, original_run, original_state, digits, forget_split):
    model = original_run[1]
    grads_before = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    mask = saliency_mask(model, digits, forget_split.train_forget, sparsity, CPU, batch_size=50)
    names = [n for n, _ in model.named_parameters()]
    assert list(mask) == names and all(
        mask[n].shape == p.shape and mask[n].dtype == torch.bool for n, p in model.named_parameters()
    )
    total = sum(p.numel() for p in model.parameters())
    kept = sum(int(m.sum()) for m in mask.values())
    assert abs(kept - (1 - sparsity) * total) <= 1  # the requested sparsity, up to rounding
    grad = forget_gradient(model, digits, forget_split.train_forget)
    inside = torch.cat([grad[n][mask[n]] for n in names])
    outside = torch.cat([grad[n][~mask[n]] for n in names])
    if len(outside):
        assert inside.min() >= outside.max() * (
            1 - 1e-4
        )  # one global threshold (float sums differ slightly by batching)
    # a global threshold: the mask is not the same fraction in every tensor
    per_tensor = [m.float().mean().item() for m in mask.values() if m.numel() > 100]
    assert sparsity == 0.0 or max(per_tensor) - min(per_tensor) > 0.1
    assert all(
        (g is None and p.grad is None) or torch.equal(g, p.grad) for g, p in zip(grads_before, model.parameters())
    )
    assert all(torch.equal(v, original_state[k]) for k, v in model.state_dict().items())


def test_salun_updates_only_salient_weights(original_run, digits, forget_split):
    settings = dict(epochs=1, min_steps=10, sparsity=0.7, momentum=0.9, weight_decay=1e-2)
    model = unlearn("salun", original_run, digits, forget_split, seed=0, **settings)
    mask = saliency_mask(original_run[1], digits, forget_split.train_forget, 0.7, CPU)
    before, after = dict(original_run[1].named_parameters()), dict(model.named_parameters())
    for n, m in mask.items():
        assert torch.equal(after[n][~m], before[n][~m]), f"{n}: a weight outside the mask moved"
    moved = sum(int((after[n][m] != before[n][m]).sum()) for n, m in mask.items())
    assert moved > 0.5 * sum(int(m.sum()) for m in mask.values())


def test_boundary_expanding_keeps_the_architecture(defaults, original_run, digits, tmp_path):
    model, original = defaults["boundary-expanding"], original_run[1]
    shapes = {k: v.shape for k, v in original.state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == digits.num_classes
    assert not torch.equal(model.classifier.weight, original.classifier.weight)  # the head was fine-tuned too
    # it saves and loads like any checkpoint (strict shapes), and the loaded model gives the same outputs
    save_checkpoint(tmp_path, model, read_meta(original_run[0]).model, {"kind": "unlearned"})
    loaded, _ = load_checkpoint(tmp_path)
    assert same_weights(loaded, model)
    index = torch.arange(len(digits.test))
    a, b = predict_logits(loaded, digits.test.images, index, CPU), predict_logits(model, digits.test.images, index, CPU)
    assert_same_outputs(a, b, atol=1e-4)  # two instances: memory formats may differ


def test_widen_head_copies_the_rows_and_seeds_the_shadow_neuron():
    head = nn.Linear(6, 4)
    a, b = widen_head(head, torch.Generator().manual_seed(0)), widen_head(head, torch.Generator().manual_seed(0))
    c = widen_head(head, torch.Generator().manual_seed(1))
    assert a.weight.shape == (5, 6) and a.bias.shape == (5,)
    assert torch.equal(a.weight[:4], head.weight) and torch.equal(a.bias[:4], head.bias)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight[4], c.weight[4])
    assert a.weight[4].abs().max() <= 1 / math.sqrt(6)  # nn.Linear's default init range
    assert not any(p is q for p in a.parameters() for q in head.parameters())


def test_scrub_schedule_and_kl():
    s = ScrubSettings(epochs=3, max_epochs=2)
    plan = schedule(s, forget_steps=2, remain_steps=3)
    assert plan == [True, True, False, False, False, True, True, False, False, False, False, False, False]
    assert schedule(ScrubSettings(epochs=2, max_epochs=0), 5, 1) == [False, False]
    logits = torch.randn(8, 10, generator=torch.Generator().manual_seed(0))
    assert distill_kl(logits, logits, 4.0).abs().item() < 1e-5
    other = logits.flip(1)
    kl1, kl4 = distill_kl(other, logits, 1.0), distill_kl(other, logits, 4.0)
    manual = (logits.softmax(1) * (logits.log_softmax(1) - other.log_softmax(1))).sum(1).mean()
    assert kl1.item() == pytest.approx(manual.item(), rel=1e-5) and kl4.item() > 0


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("scrub", {"lr": -1.0}, "lr must be a positive"),
        ("scrub", {"max_epochs": 4}, "max_epochs must be in"),
        ("scrub", {"temperature": 0}, "temperature must be a positive"),
        ("scrub", {"alpha": 0, "gamma": 0}, "make one positive"),
        ("scrub", {"bn": "eval"}, "unknown bn mode"),
        ("salun", {"sparsity": 1.0}, "sparsity must be in"),
        ("salun", {"epochs": 0}, "epochs must be at least 1"),
        ("salun", {"momentum": 1.5}, "momentum must be in"),
        ("boundary-expanding", {"min_steps": -1}, "min_steps must be >= 0"),
        ("boundary-expanding", {"batch_size": 0}, "batch_size must be at least 1"),
        ("boundary-expanding", {"eps": 0.1}, "has no setting eps"),
    ],
)
def test_bad_settings_are_one_line_errors(name, settings, message):
    with pytest.raises(UserError, match=message) as e:
        create_method(name, **settings)
    assert "\n" not in str(e.value)


def test_nan_loss_is_a_clear_error(original_run, digits, forget_split):
    with pytest.raises(UserError, match="lower the learning rate"):
        unlearn("boundary-expanding", original_run, digits, forget_split, lr=1e30, epochs=1, min_steps=5)


def test_registry_and_documented_defaults():
    assert set(NAMES) <= set(METHODS.names())
    for name in NAMES:
        cls = METHODS.get(name)
        assert cls.name == name and cls.paper and dataclasses.is_dataclass(cls.Settings)
        cls.Settings()  # the defaults are valid (settings are checked when built)
        assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(cls.Settings))
