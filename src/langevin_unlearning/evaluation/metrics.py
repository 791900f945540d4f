"""One evaluation for every method: accuracies, membership inference, and closeness to the retrained model."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..data import ForgetSplit, ImageDataset
from ..engine.predict import accuracy, predict_logits
from .mia import attack_accuracy, balanced_members, svc_mia_efficacy, true_class_confidence

METRIC_COLUMNS = [
    "forget_acc",
    "remain_acc",
    "test_acc",
    "train_forget_acc",
    "train_remain_acc",
    "mia",
    "mia_std",
    "mia_efficacy",
    "agreement_with_retrain",
    "js_to_retrain_forget",
    "js_to_retrain_remain",
]


def js_divergence(logits_p: Tensor, logits_q: Tensor) -> float:
    """Mean Jensen-Shannon divergence (base 2, so in [0, 1]) between two models' predictive distributions."""
    if len(logits_p) == 0:
        return float("nan")
    p, q = logits_p.float().softmax(1), logits_q.float().softmax(1)
    m = (p + q) / 2

    def kl(a, b):
        return (a * (a.clamp_min(1e-12).log2() - b.clamp_min(1e-12).log2())).sum(1)

    return (0.5 * kl(p, m) + 0.5 * kl(q, m)).mean().item()


def _acc(logits: Tensor, labels: Tensor) -> float:
    return (logits.argmax(1) == labels).float().mean().item() if len(labels) else float("nan")


def evaluate(
    model: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    *,
    reference: nn.Module | None = None,
    device="cpu",
    seed: int = 0,
    selective: bool = False,
    reference_logits: Tensor | None = None,
) -> dict:
    """All metrics for ``model``; with ``reference`` (the retrained model) also agreement and JS divergence.
    ``reference_logits``: the reference's test-set logits when the caller already has them (``test_logits``);
    a study scores many models against one reference and computes them once.

    ``selective`` (the original work's flag): forget_acc and remain_acc are measured on the training
    subsets (train forget set, the train remain sample) instead of the test split.
    """
    test_all = torch.arange(len(data.test))
    test_logits = predict_logits(model, data.test.images, test_all, device)
    train_f = predict_logits(model, data.train.images, split.train_forget, device)
    # remain-train accuracy on a fixed sample: the full set can be 50k images and adds little information
    g = torch.Generator().manual_seed(seed)
    remain_sample = split.train_remain[torch.randperm(len(split.train_remain), generator=g)[:5000]]
    train_r = predict_logits(model, data.train.images, remain_sample, device)
    y_test = data.test.labels
    out = {
        "test_acc": _acc(test_logits, y_test),
        "forget_acc": _acc(test_logits[split.test_forget], y_test[split.test_forget]),
        "remain_acc": _acc(test_logits[split.test_remain], y_test[split.test_remain]),
        "train_forget_acc": _acc(train_f, data.train.labels[split.train_forget]),
        "train_remain_acc": _acc(train_r, data.train.labels[remain_sample]),
        "per_class_acc": [_acc(test_logits[y_test == c], y_test[y_test == c]) for c in range(data.num_classes)],
    }
    if selective:
        out["forget_acc"], out["remain_acc"] = out["train_forget_acc"], out["train_remain_acc"]
    members, nonmembers = balanced_members(data.train.labels, split.train_forget, y_test, seed)
    ce = nn.functional.cross_entropy
    # the members are forget images, whose logits are already in train_f: gathered, not predicted again
    where = torch.searchsorted(split.train_forget, members)
    member_logits = (
        train_f[where]
        if len(members) and bool((split.train_forget[where.clamp(max=len(split.train_forget) - 1)] == members).all())
        else predict_logits(model, data.train.images, members, device)
    )
    member_loss = ce(member_logits, data.train.labels[members], reduction="none") if len(members) else torch.empty(0)
    nonmember_loss = (
        ce(test_logits[nonmembers], y_test[nonmembers], reduction="none") if len(nonmembers) else torch.empty(0)
    )
    out["mia"], out["mia_std"] = attack_accuracy(member_loss, nonmember_loss, seed=seed)
    # MIA-efficacy (SVC on true-class confidence, remain-train vs test, applied to the forget images)
    out["mia_efficacy"] = svc_mia_efficacy(
        true_class_confidence(train_r, data.train.labels[remain_sample]),
        true_class_confidence(test_logits, y_test),
        true_class_confidence(train_f, data.train.labels[split.train_forget]),
        seed=seed,
    )
    if reference is not None or reference_logits is not None:
        ref_logits = reference_logits if reference_logits is not None else test_logits_of(reference, data, device)
        out["agreement_with_retrain"] = (ref_logits.argmax(1) == test_logits.argmax(1)).float().mean().item()
        out["js_to_retrain_forget"] = js_divergence(test_logits[split.test_forget], ref_logits[split.test_forget])
        out["js_to_retrain_remain"] = js_divergence(test_logits[split.test_remain], ref_logits[split.test_remain])
    return out


def test_logits_of(model: nn.Module, data: ImageDataset, device) -> Tensor:
    """``model``'s logits on every test image (what evaluate compares a model's with)."""
    return predict_logits(model, data.test.images, torch.arange(len(data.test)), device)


def timing(unlearn_seconds: float, retrain_seconds: float | None) -> dict:
    speedup = retrain_seconds / unlearn_seconds if retrain_seconds and unlearn_seconds > 0 else math.nan
    return {"unlearn_seconds": unlearn_seconds, "retrain_seconds": retrain_seconds, "speedup": speedup}


def split_accuracies(
    model: nn.Module, data: ImageDataset, split: ForgetSplit | None, device, *, test_acc: bool = True
) -> dict:
    """The few accuracies a sidecar or a trajectory row records: test accuracy (unless ``test_acc`` is False) and,
    with a forget split, forget / remain accuracy on the test split (as in evaluate) and forget accuracy on train."""
    acc = (
        {"test_acc": accuracy(model, data.test.images, data.test.labels, torch.arange(len(data.test)), device)}
        if test_acc
        else {}
    )
    if split is not None:
        acc["forget_acc"] = accuracy(model, data.test.images, data.test.labels, split.test_forget, device)
        acc["remain_acc"] = accuracy(model, data.test.images, data.test.labels, split.test_remain, device)
        acc["train_forget_acc"] = accuracy(model, data.train.images, data.train.labels, split.train_forget, device)
    return acc
