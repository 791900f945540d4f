"""scikit-learn's bundled 8x8 handwritten digits: the embedded default, no download needed."""

from __future__ import annotations

import torch

from .base import DataOptions, ImageDataset, Split, channel_stats, resize_uint8, stratified_split
from .registry import register_dataset

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the split is part of the dataset's definition, not of the experiment seed


def _locate(arg, options):
    import sklearn.datasets

    return f"bundled with scikit-learn {sklearn.__version__}" if sklearn.datasets else None


@register_dataset("digits", summary="scikit-learn's 8x8 digits, 1797 images, 10 classes (bundled)", locate=_locate)
def load_digits(arg: str | None, options: DataOptions) -> ImageDataset:
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    # pixel values are 0..16; scale to 0..255 uint8
    images = torch.as_tensor(bunch.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION, SPLIT_SEED)
    images = resize_uint8(images, options.image_size)
    train = Split(images[train_idx].contiguous(), labels[train_idx])
    test = Split(images[test_idx].contiguous(), labels[test_idx])
    mean, std = channel_stats(train.images)
    return ImageDataset(
        "digits", train, test, [str(i) for i in range(10)], mean, std, hflip=False, source=_locate(arg, options)
    )
