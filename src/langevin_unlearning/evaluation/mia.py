"""Loss-based membership inference: can an attacker tell the deleted training images from unseen ones?

Features: each image's cross-entropy under the model. Members: the train-forget images (the data being
deleted). Non-members: test images of the same classes, equal in number per class. A logistic regression
is scored under 5 stratified shuffle splits; about 0.5 means the attacker cannot tell them apart.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from torch import Tensor


def attack_accuracy(
    member_losses: Tensor, nonmember_losses: Tensor, *, splits: int = 5, test_size: float = 0.3, seed: int = 0
) -> tuple[float, float]:
    """Mean and std of the attack's held-out accuracy over ``splits`` stratified shuffles."""
    x = torch.cat([member_losses, nonmember_losses]).double().clamp(max=1e4).log1p().numpy()[:, None]
    y = np.r_[np.ones(len(member_losses)), np.zeros(len(nonmember_losses))]
    if len(member_losses) < 2 or len(nonmember_losses) < 2:
        return float("nan"), float("nan")
    scores = []
    for train, test in StratifiedShuffleSplit(n_splits=splits, test_size=test_size, random_state=seed).split(x, y):
        clf = LogisticRegression().fit(x[train], y[train])
        scores.append(clf.score(x[test], y[test]))
    return float(np.mean(scores)), float(np.std(scores))


def balanced_members(train_labels: Tensor, forget: Tensor, test_labels: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Equal-size, class-matched (members, non-members): per class c, min(#forget in c, #test in c) of each."""
    g = torch.Generator().manual_seed(seed)
    members, nonmembers = [], []
    for c in train_labels[forget].unique().tolist():
        fc = forget[train_labels[forget] == c]
        tc = (test_labels == c).nonzero().flatten()
        n = min(len(fc), len(tc))
        members.append(fc[torch.randperm(len(fc), generator=g)[:n]])
        nonmembers.append(tc[torch.randperm(len(tc), generator=g)[:n]])
    empty = torch.empty(0, dtype=torch.int64)
    return (torch.cat(members) if members else empty), (torch.cat(nonmembers) if nonmembers else empty)


def true_class_confidence(logits: Tensor, labels: Tensor) -> Tensor:
    """Softmax probability of the true label: the 'confidence' feature of the SVC attack."""
    if len(labels) == 0:
        return torch.empty(0)
    return logits.float().softmax(1).gather(1, labels.long().view(-1, 1)).squeeze(1)


def svc_mia_efficacy(
    member_conf: Tensor, nonmember_conf: Tensor, target_conf: Tensor, *, max_per_side: int = 1000, seed: int = 0
) -> float:
    """MIA-efficacy (Jia et al. 2023, used by l1-sparse and SalUn): an RBF SVC learns members (remain-train
    images) vs non-members (test images) from the true-class confidence, then labels the forget images; the
    result is the share it calls non-members (higher = more forgotten; compare with the retrained model's value).
    Both training sides are subsampled to the same size, at most ``max_per_side``."""
    from sklearn.svm import SVC

    n = min(len(member_conf), len(nonmember_conf), max_per_side)
    if n < 2 or len(target_conf) == 0:
        return float("nan")
    g = torch.Generator().manual_seed(seed)
    members = member_conf[torch.randperm(len(member_conf), generator=g)[:n]]
    nonmembers = nonmember_conf[torch.randperm(len(nonmember_conf), generator=g)[:n]]
    x = torch.cat([members, nonmembers]).double().numpy()[:, None]
    y = np.r_[np.ones(n), np.zeros(n)]
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(x, y)
    return float((clf.predict(target_conf.double().numpy()[:, None]) == 0).mean())
