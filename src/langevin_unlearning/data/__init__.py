"""Datasets (one module each, registered by name), forget specifications and batch augmentation."""

from . import cifar10, digits, fashionmnist, folder, medmnist, svhn  # noqa: F401  (registers loaders)
from .base import DataOptions, ImageDataset, Split
from .forget import ForgetSplit, parse_forget
from .registry import DATASETS, load_dataset

__all__ = ["DATASETS", "DataOptions", "ForgetSplit", "ImageDataset", "Split", "load_dataset", "parse_forget"]
