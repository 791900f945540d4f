"""Linear probe: can a new linear head on the frozen features still recognise the forgotten images?

A multinomial logistic regression (scikit-learn) is trained on ``model.features(x)`` of a seeded
remain sample (at most ``max_remain`` training images, their true labels) plus the same small forget
sample the relearning analysis fine-tunes on (``fraction`` of the train forget set, at least
``min_images``, their true labels). Its score is its accuracy on held-out forget images: the test
forget set, or the train forget images outside the sample when the test forget set is empty.

Why a *small* forget sample and a regularized head, not the whole train forget set: with hundreds of
labelled forget images a linear head recovers a forgotten digit from almost any decent feature
extractor — on digits (class 3) the retrained model, which never saw a 3, then scores about 0.96
against the original's 1.0, so such a probe measures generic feature quality, not forgetting. With a
handful of examples among all the remain classes, and an L2 penalty (``C`` = 0.1 on standardized
features) that lets the head pick out the forget images only along a clear, large-margin direction,
the probe succeeds only when the features already separate the forgotten images: the original's do
(about its forget accuracy, 0.97-1.0), the retrained model's do not (about 0.5; 0.7-0.8 without the
penalty). This is the head-only counterpart of relearning, and its score reads like forget accuracy:
an unlearning method that only disturbed the head scores near the original here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..core.errors import UserError
from ..data import ForgetSplit, ImageDataset
from ..data.base import Images
from ..engine.predict import predict_features
from .relearn import relearn_eval_set, relearn_sample

MAX_REMAIN = 2000
C = 0.1  # scikit-learn's inverse L2 strength on standardized features


def features(model: nn.Module, images: Images, index: Tensor, device, batch_size: int = 512) -> np.ndarray:
    """``model.features`` of the images at ``index`` as float64 numpy (N, D), computed in eval mode."""
    return predict_features(model, images, index, device, batch_size).double().numpy()


def probe_accuracy(
    model: nn.Module,
    data: ImageDataset,
    split: ForgetSplit,
    *,
    device,
    seed: int = 0,
    fraction: float = 0.01,
    min_images: int = 16,
    max_remain: int = MAX_REMAIN,
    c: float = C,
) -> float:
    """Accuracy of a linear head, fitted on frozen features (remain sample + small forget sample), on held-out forget images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    forget = relearn_sample(split, seed=seed, fraction=fraction, min_images=min_images)
    g = torch.Generator().manual_seed(seed + 1)
    remain = split.train_remain[torch.randperm(len(split.train_remain), generator=g)[:max_remain]].sort().values
    train_index = torch.cat([remain, forget])
    x_train = features(model, data.train.images, train_index, device)
    y_train = data.train.labels[train_index].numpy()
    if len(np.unique(y_train)) < 2:
        raise UserError("the linear probe needs images of at least two classes in the remain and forget samples")
    where, held_out = relearn_eval_set(data, split, forget)
    part = data.test if where == "test" else data.train
    x_test = features(model, part.images, held_out, device)
    scaler = StandardScaler().fit(x_train)
    head = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x_train), y_train)
    predicted = head.predict(scaler.transform(x_test))
    return float((predicted == part.labels[held_out].numpy()).mean())
