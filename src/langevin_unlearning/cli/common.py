"""Flags shared by several sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data import DataOptions


def add_data_flags(p: argparse.ArgumentParser, *, dataset_default: str | None = "digits") -> None:
    p.add_argument("--dataset", default=dataset_default, help="dataset name, e.g. digits, fashionmnist, cifar10, medmnist:pathmnist, folder:PATH")
    p.add_argument("--data-dir", type=Path, default=None, help="where dataset files are (also $LANGEVIN_DATA)")
    p.add_argument("--image-size", type=int, default=None, help="resize images to SIZE x SIZE")


def add_runtime_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="one seed for data splits, init and noise (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_graphs_flags(p: argparse.ArgumentParser) -> None:
    """--graphs / --no-graphs (alias --eager): run each step as one captured CUDA graph, or eagerly."""
    p.add_argument("--graphs", action=argparse.BooleanOptionalAction, default=None,
                   help="CUDA only: replay each step as one captured CUDA graph (default: the measured default in device.py)")
    p.add_argument("--eager", dest="graphs", action="store_false", help="same as --no-graphs: run every step eagerly")


def data_options(args, seed: int | None = None) -> DataOptions:
    return DataOptions(data_dir=args.data_dir, image_size=args.image_size, seed=args.seed if seed is None else seed)
