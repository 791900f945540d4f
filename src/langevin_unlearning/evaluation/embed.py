"""t-SNE of feature spaces: the fixed image sample every model embeds, and the 2-D map (report/embedding.py draws it)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data import ForgetSplit, ImageDataset


def embed_sample(data: ImageDataset, split: ForgetSplit, n: int = 500, seed: int = 0) -> tuple[str, Tensor, Tensor]:
    """(split name, index, is-forget mask): ``n`` seeded images of the test split (train when the test forget set is empty)."""
    name, forget = ("test", split.test_forget) if len(split.test_forget) else ("train", split.train_forget)
    total = len(getattr(data, name))
    g = torch.Generator().manual_seed(seed)
    index = torch.randperm(total, generator=g)[: min(n, total)].sort().values
    return name, index, torch.isin(index, forget)


def tsne(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE (scikit-learn) of standardized features; perplexity shrinks for tiny samples."""
    from sklearn.manifold import TSNE

    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
