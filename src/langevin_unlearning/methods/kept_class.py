"""Targets for forget images whose class stays in the remain data (``class:K:F``, ``random:F``, many ``where:`` rules).

A model retrained without such an image still knows its class: it meets the image as it meets a held-out one.
So the image should not be pushed to another class (what the boundary search's label does for a whole-class
request) but down to the confidence a *held-out* image of its class gets. The calibrated target of forget
image i, true class y, searched point x_K:

    c_i    = the q_i-quantile of f0's true-class probability on the test images of class y, where q_i is the
             rank of f0's true-class probability at x_K among the searched images of class y
             (the image the search moves most easily gets the lowest held-out confidence)
    w_i    = f0's softmax at x0 with class y left out, renormalised: where an unseen image's missing
             probability goes (f0's softmax at x_K puts it on the one class the search pushed toward, and
             training on that cost more remain accuracy on the Fashion-MNIST tuning sets)
    target = c_i * onehot(y) + (1 - c_i) * w_i

Matching quantiles rather than the mean keeps the spread: a held-out class with 90% accuracy gives about 10% of
its forget images a target below one half, as a retrained model misclassifies about 10% of unseen images.
The test images are read through f0 only (no labels enter training but their class), once per run.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data import ForgetSplit, ImageDataset
from ..engine.predict import predict_logits

KEPT_CLASS_TARGETS = ("calibrated", "search")  # calibrated: as above; search: every image leaves its class


def kept_class_mask(data: ImageDataset, split: ForgetSplit) -> Tensor:
    """Per forget image (in ``split.train_forget`` order): whether the remain data still holds its class."""
    remain_classes = data.train.labels[split.train_remain].unique()
    return torch.isin(data.train.labels[split.train_forget], remain_classes)


class HeldOutConfidence:
    """f0's true-class probabilities on the test images, sorted per class (the quantiles a target is drawn from)."""

    def __init__(self, f0: nn.Module, data: ImageDataset, classes: Tensor, device: torch.device):
        self.device = device
        self.sorted: dict[int, Tensor] = {}
        for k in classes.tolist():
            index = (data.test.labels == k).nonzero().flatten()
            if len(index) == 0:  # no held-out image of the class: all test images stand in
                index = torch.arange(len(data.test.labels))
            if len(index) == 0:
                continue
            probs = predict_logits(f0, data.test.images, index, device).softmax(1)
            self.sorted[k] = probs[torch.arange(len(index)), data.test.labels[index]].sort().values.to(device)


def nearest_rank(table: Tensor, q: Tensor) -> Tensor:
    """The ``q`` (in [0, 1]) quantiles of the sorted ``table`` (nearest rank)."""
    pos = (q * (len(table) - 1)).round().long().clamp_(0, len(table) - 1)
    return table[pos]


def quantile_by_rank(table: Tensor, values: Tensor) -> Tensor:
    """For each of ``values``: the quantile of the sorted ``table`` at its rank among ``values``, (rank + 1/2) / n.
    Matching quantiles rather than taking the mean keeps the spread: the highest value gets the highest entry."""
    rank = values.argsort().argsort().float()
    return nearest_rank(table, (rank + 0.5) / len(values))


def calibrated_targets(
    targets: Tensor, logits_at_xk: Tensor, logits_at_x0: Tensor, y: Tensor, kept: Tensor, held_out: HeldOutConfidence
) -> Tensor:
    """The search's ``targets`` (labels or probability rows) as probability rows, with the calibrated target
    (module docstring) in the rows of images whose class is ``kept``."""
    classes = logits_at_xk.shape[1]
    out = nn.functional.one_hot(targets, classes).float() if targets.dtype == torch.int64 else targets.clone()
    p_true = logits_at_xk.float().softmax(1).gather(1, y[:, None]).squeeze(1)  # how far the search moved it
    wrong = logits_at_x0.float().scatter(1, y[:, None], float("-inf")).softmax(1)  # w_i: y left out, renormalised
    for k in y[kept].unique().tolist():
        if k not in held_out.sorted:
            continue
        rows = (kept & (y == k)).nonzero().flatten()
        c = quantile_by_rank(held_out.sorted[k], p_true[rows])[:, None]
        out[rows] = c * nn.functional.one_hot(y[rows], classes).float() + (1 - c) * wrong[rows]
    return out
