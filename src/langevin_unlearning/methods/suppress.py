"""Suppressing a forgotten class as far as a model that never learnt it does (``suppress`` > 0, whole classes).

A model retrained without class y still has an output for y, but nothing ever pulled it up: on the forget images
it sits about as low as it sits on anything. The search's label alone does not get there. Cross-entropy towards
another class moves the logit of y by its probability p_y, so once the logit-scaled confidence
s_y = log p_y - log(1 - p_y) falls to about -7 (p_y about 1e-3) more updates barely move it, while a retrained
model's s_y on the forget images is lower still. The per-example audit sees exactly that gap.

So each forget image of a whole-class request gets a level, and the update adds

    suppress * huber(s_y(f(x0)) - level_i)        (quadratic within one unit of the level, linear beyond)

whose gradient is at most ``suppress`` however far s_y is from the level (no step blows up) and zero at the level
(the pull aims at it rather than past it; a one-sided hinge overshot by several units). ``suppress_level`` gives
one level for every forget image; by default each image's level is read off f0 and the data alone (retrain-free):

    level_i = the q_i-quantile of f0's s_y on the test images of the *other* classes (images f0 never had to
              call y), where q_i is the rank of f0's s_y at x0 among the forget images of class y

Matching quantiles keeps the spread (the most y-like image keeps the highest level). The test images are read
through f0 only, once per run, and no test label enters training but the split of classes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data import ForgetSplit, ImageDataset
from ..engine.predict import logit_confidence, predict_logits
from .kept_class import quantile_by_rank


def suppression_levels(
    f0: nn.Module, data: ImageDataset, split: ForgetSplit, whole: Tensor, device, level: float | None = None
) -> Tensor:
    """Per training image (indexed by dataset index, on ``device``): its level (module docstring) if it is a
    forget image of a whole-class request (``whole``, in ``split.train_forget`` order), else +inf (no pull).
    ``level``: one given level for every such image instead (not retrain-free if it was read off a retrained model)."""
    levels = torch.full((len(data.train.labels),), float("inf"))
    forget = split.train_forget[whole]
    if level is not None:
        levels[forget] = level
        return levels.to(device)
    y = data.train.labels[forget]
    at_x0 = logit_confidence(predict_logits(f0, data.train.images, forget, device), y).float()
    test_labels = data.test.labels
    for k in y.unique().tolist():
        others = (test_labels != k).nonzero().flatten()
        if len(others) == 0:
            continue
        reference = predict_logits(f0, data.test.images, others, device)
        table = logit_confidence(reference, torch.full_like(others, k)).float().sort().values
        rows = (y == k).nonzero().flatten()
        levels[forget[rows]] = quantile_by_rank(table, at_x0[rows])
    return levels.to(device)


def suppression_loss(logits: Tensor, labels: Tensor, levels: Tensor) -> Tensor:
    """Mean Huber loss of s_y against its level over the batch; rows at level +inf add nothing (device work only).

    The other classes' logsumexp is held fixed (detached), so the pull lowers the forgotten class's own logit
    and leaves the others where the rest of the loss puts them: a retrained model never raised that logit, it
    did not raise the others."""
    y = labels.long().view(-1, 1)
    s = logits.gather(1, y).squeeze(1).float() - logits.detach().float().scatter(1, y, float("-inf")).logsumexp(1)
    finite = torch.isfinite(levels)
    target = torch.where(finite, levels, s.detach())  # no level: the row's own value, so no loss and no gradient
    return nn.functional.huber_loss(s, target, reduction="none", delta=1.0).mean()
