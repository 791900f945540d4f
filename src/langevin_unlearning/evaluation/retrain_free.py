"""A selection signal that needs no retrained model: do the forget images look like images the model never saw?

A model retrained without the forget images treats them as unseen: its confidence on them is distributed like its
confidence on held-out test images of the same classes. A model that still remembers them is more confident on
them than on those test images. So the AUC with which the unlearned model's per-example confidence
(``logit_confidence``) separates the train forget images (positives) from same-class test images (negatives) is
about 0.5 after good unlearning and above 0.5 while the forget images are still memorised; its distance to 0.5
is a score to rank settings by when retraining (or a bank of retrained models) is too costly.

It is a signal to check against the audit, not a proof of forgetting: it only compares the forget images with
other images of their classes, so it cannot see, for instance, a model that has become *less* confident on
every image of a class. The comparison images are the test images of the forget images' classes: for a class
request the class's test images (``split.test_forget``), for random and sub-class requests the test images
whose label is one of the forget images' labels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from ..data import ForgetSplit, ImageDataset
from ..engine.predict import logit_confidence, predict_logits


def rank_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(positive > negative) + P(tie) / 2 from ranks (Mann-Whitney), in O((n + m) log(n + m)); NaN if a side is empty."""
    pos, neg = np.asarray(positive, np.float64).ravel(), np.asarray(negative, np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return math.nan
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))  # ties get the mean of their ranks
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def same_class_test(data: ImageDataset, split: ForgetSplit) -> Tensor:
    """The held-out images to compare the forget images with: the test images of the forget images' classes."""
    if len(split.test_forget):
        return split.test_forget
    classes = data.train.labels[split.train_forget].unique()
    return torch.nonzero(torch.isin(data.test.labels, classes)).flatten()


def forget_test_auc(forget_conf: np.ndarray, test_conf: np.ndarray) -> dict:
    """``forget_test_auc`` (confidence on the forget images vs on same-class test images; 0.5: they look unseen) and
    ``forget_test_dist``, its distance to 0.5 (the selection score: smaller is better)."""
    auc = rank_auc(forget_conf, test_conf)
    return {"forget_test_auc": auc, "forget_test_dist": abs(auc - 0.5)}


def forget_test_signal(model: nn.Module, data: ImageDataset, split: ForgetSplit, device="cpu") -> dict:
    """``forget_test_auc`` of ``model`` on ``split`` (computed from the model and the data alone)."""
    test = same_class_test(data, split)
    if len(test) == 0 or len(split.train_forget) == 0:
        return forget_test_auc(np.empty(0), np.empty(0))
    forget_logits = predict_logits(model, data.train.images, split.train_forget, device)
    test_logits = predict_logits(model, data.test.images, test, device)
    return forget_test_auc(
        logit_confidence(forget_logits, data.train.labels[split.train_forget]).numpy(),
        logit_confidence(test_logits, data.test.labels[test]).numpy(),
    )
