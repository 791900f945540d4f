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

    level_i = s_y of image i under a fresh linear head trained on f0's features of a sample of remain images

The head never sees class y, as a retrained model never does, so it says how low y falls for each image on
features that still tell the image apart: a retrained model's own confidence differs by several units from class
to class, and per image it follows the head's, not any fixed level. How low an output that is only ever pushed
down falls grows with the number of updates, so that number (``suppress_head_updates``) is the estimator's one
setting, chosen on the tuning classes. The head is seeded by the run's seed and touches no other random stream.

A second way to the same place (``refit_rows``, N > 0): after the updates, each forgotten class's row of the
model's own linear head is redrawn and fitted alone for N updates on the unlearned model's remain features, every
other row held. That row is then exactly what retraining gives it, only ever pushed down from a fresh start, on the
features the model has now; nothing is pulled towards an estimate. Both are seeded by the run.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..core.errors import UserError
from ..data import ForgetSplit, ImageDataset
from ..engine.predict import logit_confidence, predict_features

HEAD_SAMPLE = 3000  # remain images whose features train the head (one forward pass of f0 over them)
HEAD_BATCH, HEAD_LR, HEAD_MOMENTUM = 128, 0.05, 0.9
HEAD_SEED_OFFSET = 2_000_003  # the head's seed is the run's seed plus this
ROWS_SEED_OFFSET = 3_000_017  # and the refitted rows' (a stream of their own)


def _remain_sample(split: ForgetSplit, g: torch.Generator) -> Tensor:
    return split.train_remain[torch.randperm(len(split.train_remain), generator=g)[:HEAD_SAMPLE]]


def _fresh(shape: tuple[int, ...], fan_in: int, g: torch.Generator) -> Tensor:
    """nn.Linear's own initialisation (uniform within 1/sqrt(fan_in)), drawn from ``g``."""
    bound = fan_in**-0.5
    return torch.empty(shape).uniform_(-bound, bound, generator=g)


def _sgd(params: list[Tensor], loss_of, n: int, *, updates: int, g: torch.Generator) -> None:
    """``updates`` SGD updates of ``params`` on ``loss_of(batch)``, batches of HEAD_BATCH rows of ``n`` drawn from ``g``."""
    opt = torch.optim.SGD(params, lr=HEAD_LR, momentum=HEAD_MOMENTUM)
    done = 0
    with torch.enable_grad():
        while done < updates:
            for batch in torch.randperm(n, generator=g)[: (updates - done) * HEAD_BATCH].split(HEAD_BATCH):
                opt.zero_grad(set_to_none=True)
                loss_of(batch).backward()
                opt.step()
                done += 1


def fresh_head_confidence(
    f0: nn.Module, data: ImageDataset, split: ForgetSplit, forget: Tensor, *, updates: int, seed: int, device
) -> Tensor:
    """s_y at the images ``forget`` (train indices) under a fresh linear head fitted by SGD, for ``updates`` updates,
    to f0's features of ``HEAD_SAMPLE`` remain images: an output for every class, none of them raised by ``forget``'s
    classes when the remain data lacks them. Float32, on the CPU."""
    g = torch.Generator().manual_seed(seed + HEAD_SEED_OFFSET)
    remain = _remain_sample(split, g)
    h_all = predict_features(f0, data.train.images, torch.cat([remain, forget]), device).cpu()  # one pass for both
    h, at = h_all[: len(remain)], h_all[len(remain) :]
    y = data.train.labels[remain].long()
    head = nn.Linear(h.shape[1], data.num_classes)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(_fresh(p.shape, h.shape[1], g))
    _sgd(
        list(head.parameters()),
        lambda b: nn.functional.cross_entropy(head(h[b]), y[b]),
        len(remain),
        updates=updates,
        g=g,
    )
    with torch.no_grad():
        return logit_confidence(head(at), data.train.labels[forget]).float()


def linear_head(model: nn.Module) -> nn.Linear:
    """``model.classifier`` if it is one nn.Linear (the rows ``refit_rows`` redraws), else a one-line UserError."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise UserError(
            f"refit_rows needs a model whose classifier is one nn.Linear; {type(model).__name__} has "
            f"{type(head).__name__}; use refit_rows 0"
        )
    return head


def refit_forgotten_rows(
    model: nn.Module, data: ImageDataset, split: ForgetSplit, classes: Tensor, *, updates: int, seed: int, device
) -> None:
    """Redraw the rows of ``classes`` in ``model.classifier`` (one nn.Linear) and fit them alone, for ``updates``
    SGD updates, to ``model``'s own features of ``HEAD_SAMPLE`` remain images, every other row held (in place).

    The remain data lacks those classes, so their rows are only ever pushed down, from a fresh start, on the
    features the model has now: each forgotten class's output ends, image by image, where a retrained model's
    does (its row never raised by any image), not where the unlearning updates happened to leave it."""
    head = linear_head(model)
    g = torch.Generator().manual_seed(seed + ROWS_SEED_OFFSET)
    remain = _remain_sample(split, g)
    h = predict_features(model, data.train.images, remain, device).cpu()
    y = data.train.labels[remain].long()
    rows = classes.long().cpu()
    with torch.no_grad():  # the held rows' logits do not change: computed once
        held = nn.functional.linear(
            h, head.weight.detach().float().cpu(), None if head.bias is None else head.bias.detach().float().cpu()
        )
    w = _fresh((len(rows), h.shape[1]), h.shape[1], g).requires_grad_()
    b = _fresh((len(rows),), h.shape[1], g).requires_grad_() if head.bias is not None else None
    params = [w] if b is None else [w, b]

    def loss_of(batch: Tensor) -> Tensor:
        fresh = nn.functional.linear(h[batch], w, b)
        return nn.functional.cross_entropy(held[batch].index_copy(1, rows, fresh), y[batch])

    _sgd(params, loss_of, len(remain), updates=updates, g=g)
    with torch.no_grad():
        head.weight[rows.to(head.weight.device)] = w.to(head.weight)
        if b is not None:
            head.bias[rows.to(head.bias.device)] = b.to(head.bias)


def suppression_levels(
    f0: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    whole: Tensor,
    device,
    *,
    level: float | None = None,
    head_updates: int,
    seed: int,
) -> Tensor:
    """Per training image (indexed by dataset index, on ``device``): its level (module docstring) if it is a
    forget image of a whole-class request (``whole``, in ``split.train_forget`` order), else +inf (no pull).
    ``level``: one given level for every such image instead (not retrain-free if it was read off a retrained model)."""
    levels = torch.full((len(data.train.labels),), float("inf"))
    forget = split.train_forget[whole]
    if level is not None:
        levels[forget] = level
    elif len(forget):
        levels[forget] = fresh_head_confidence(f0, data, split, forget, updates=head_updates, seed=seed, device=device)
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
